# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options of the modules that ask the Docker Engine (module_utils/common/docker.py ENGINE_ARGUMENT_SPEC)."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description: The Docker Engine API to ask.
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description: Seconds to wait for an answer from the Docker Engine.
    type: int
    default: 60
requirements:
  - The Docker SDK for Python on the node (Debian package C(python3-docker)).
"""
