# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.audit_report: the report files written on the controller, by rename, with clear errors."""

from __future__ import annotations

import os
import stat

import pytest

from ansible.errors import AnsibleActionFail

from ansible_collections.ironclad.swarm.plugins.action.audit_report import file_mode, write_reports


def test_writes_each_file_and_creates_the_directory(tmp_path):
    directory = tmp_path / 'reports' / 'today'
    paths = write_reports(str(directory), {'b.json': '{"a": 1}\n', 'a.html': '<p>ü</p>'}, 0o640)
    assert paths == [str(directory / 'a.html'), str(directory / 'b.json')]
    assert (directory / 'a.html').read_text(encoding='utf-8') == '<p>ü</p>'
    assert (directory / 'b.json').read_text() == '{"a": 1}\n'
    assert stat.S_IMODE(os.stat(str(directory / 'b.json')).st_mode) == 0o640
    assert sorted(os.listdir(str(directory))) == ['a.html', 'b.json'], 'no temporary file is left'


def test_rewrites_in_place(tmp_path):
    write_reports(str(tmp_path), {'r.json': 'old'}, 0o644)
    write_reports(str(tmp_path), {'r.json': 'new'}, 0o644)
    assert (tmp_path / 'r.json').read_text() == 'new' and os.listdir(str(tmp_path)) == ['r.json']


@pytest.mark.parametrize('name', ['../escape.json', 'sub/r.json', '', '..', '/etc/passwd'])
def test_names_with_a_directory_are_refused_before_writing(tmp_path, name):
    with pytest.raises(AnsibleActionFail, match='is not a plain file name'):
        write_reports(str(tmp_path / 'out'), {'ok.json': 'x', name: 'y'}, 0o644)
    assert not (tmp_path / 'out').exists()


def test_a_file_where_the_directory_should_be_is_named(tmp_path):
    (tmp_path / 'taken').write_text('x')
    with pytest.raises(AnsibleActionFail, match='cannot be created.*audit_report_dir'):
        write_reports(str(tmp_path / 'taken'), {'r.json': 'x'}, 0o644)


@pytest.mark.parametrize('value, mode', [('0644', 0o644), ('644', 0o644), (644, 0o644), ('0600', 0o600)])
def test_modes(value, mode):
    assert file_mode(value) == mode


@pytest.mark.parametrize('value', ['rw-r--r--', '0999', '17777'])
def test_bad_modes_say_how_to_write_them(value):
    with pytest.raises(AnsibleActionFail, match='mode:'):
        file_mode(value)
