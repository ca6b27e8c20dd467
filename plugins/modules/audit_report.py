#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The work is done on the controller by the action plugin plugins/action/audit_report.py;
# this file holds its documentation.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: audit_report
short_description: Write the audit's report files on the controller
version_added: 0.1.0
description:
  - Writes each file of O(files) into O(directory) on the controller, creating the directory when it is
    missing. Each file goes to a temporary file in the same directory first and is renamed into place, so
    a reader never sees half a report.
  - It runs in the controller's own process, so a run of the C(audit) role starts no local module process
    for its reports (it used to start three).
  - The C(audit) role renders the HTML and JSON reports with its templates and passes them here.
author:
  - ironclad.swarm developers (@ironclad-swarm)
options:
  directory:
    description: The directory on the controller. A relative path is relative to the current directory.
    type: path
    required: true
  files:
    description: File names (no directory part) and the text to write into each.
    type: dict
    required: true
  mode:
    description: The files' mode, as a quoted octal string.
    type: raw
    default: '0644'
attributes:
  action:
    support: full
    description: The work is done by an action plugin on the controller.
  check_mode:
    support: none
    description:
      - The report is written in check mode too. It describes the cluster and is not node state.
  diff_mode:
    support: none
    description: Nothing the run manages changes.
  idempotent:
    support: full
    description: Always reports RV(ignore:changed=false); the files hold the latest report.
  platform:
    support: full
    platforms: posix
    description: The controller.
seealso:
  - module: ironclad.swarm.ipsec_audit
"""

EXAMPLES = r"""
- name: Write the report files
  ironclad.swarm.audit_report:
    directory: reports
    files:
      cluster.json: "{{ audit_report | to_nice_json }}"
      cluster.txt: "{{ audit_report.findings | map(attribute='reason') | join('\n') }}"
  run_once: true
"""

RETURN = r"""
paths:
  description: The files written, sorted by name.
  returned: success
  type: list
  elements: str
  sample: [/home/op/ironclad-swarm-audit.html, /home/op/ironclad-swarm-audit.json]
"""
