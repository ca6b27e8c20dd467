# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/architecture.md's map names every file under plugins/ and roles/, once each, and nothing else."""

from __future__ import annotations

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, 'docs', 'architecture.md')
# A map line: "- `plugins/...` or `roles/...`: what the file holds."
MAP_LINE = re.compile(r'^- `((?:plugins|roles)/[^`]+)`: \S')


def files_under(top):
    """Every file under ROOT/top, as a path relative to ROOT; Python's caches left out."""
    found = []
    for folder, dirs, names in os.walk(os.path.join(ROOT, top)):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        found.extend(os.path.relpath(os.path.join(folder, name), ROOT).replace(os.sep, '/')
                     for name in names if not name.endswith(('.pyc', '.pyo')))
    return sorted(found)


def mapped():
    with open(DOC) as handle:
        return [match.group(1) for match in map(MAP_LINE.match, handle.read().splitlines()) if match]


def test_the_map_has_lines():
    assert len(mapped()) > 100, 'the pattern reads the map'


def test_every_file_is_in_the_map():
    missing = sorted(set(files_under('plugins') + files_under('roles')) - set(mapped()))
    assert missing == [], 'add a line "- `PATH`: what it holds." to the map in docs/architecture.md for each'


def test_the_map_names_only_files_that_exist():
    gone = sorted(path for path in set(mapped()) if not os.path.isfile(os.path.join(ROOT, path)))
    assert gone == [], 'these map lines in docs/architecture.md name no file: remove or correct them'


def test_each_file_has_one_line():
    seen = mapped()
    assert sorted(path for path in set(seen) if seen.count(path) > 1) == []


def test_a_roles_files_sit_under_its_heading():
    """Each role's lines come under its own "### roles/NAME" heading, so the map reads role by role."""
    heading = None
    misplaced = []
    with open(DOC) as handle:
        for line in handle:
            if line.startswith('### '):
                heading = line[4:].strip()
            match = MAP_LINE.match(line)
            if match and match.group(1).startswith('roles/'):
                role = '/'.join(match.group(1).split('/')[:2])
                if heading != role:
                    misplaced.append(match.group(1))
    assert misplaced == []
