# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in-process and catch what it would print.

Each test file patches what its module talks to (run_command, the Docker SDK,
the kernel's files), then calls run_main(); the module's exit_json/fail_json
are turned into exceptions carrying the result.
"""

from __future__ import annotations

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ExitJson(Exception):
    """exit_json was called; args[0] is the result."""


class FailJson(Exception):
    """fail_json was called; args[0] is the result."""


def run_main(monkeypatch, main, args, check_mode=False, diff=False):
    """Call main() with args; return (ok, result): ok is False when the module failed."""
    def exit_json(module, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(module, **kwargs):
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    with patch_module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)):
        with pytest.raises((ExitJson, FailJson)) as info:
            main()
    return info.type is ExitJson, info.value.args[0]
