# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the collection importable as ansible_collections.ironclad.swarm, and recordings.py importable.

`make collection` links the repository to .build/collections/ansible_collections/ironclad/swarm;
put that root on sys.path (creating the link when it is missing) so that
``from ansible_collections.ironclad.swarm.plugins... import ...`` works under pytest.
"""

import os
import shutil
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_ROOT = os.path.join(REPO, '.build', 'collections')
LINK = os.path.join(COLLECTIONS_ROOT, 'ansible_collections', 'ironclad', 'swarm')

if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.join('..', '..', '..', '..'), LINK)

if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)

# recordings.py (the per-Docker-version fixture folders) is shared by every test directory, and so is
# molecule/shared/platforms.py (the releases the collection supports, which the lab and the tests share).
UNIT = os.path.dirname(os.path.abspath(__file__))
for path in (os.path.join(REPO, 'molecule', 'shared'), UNIT):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture
def promtool():
    """The path of Debian's promtool; the test is skipped without it, and fails instead when CI is set."""
    path = shutil.which('promtool')
    if path is None:
        advice = "promtool not found: install Debian's prometheus package (tests/lab/host-setup.sh does)"
        if os.environ.get('CI'):
            pytest.fail(advice + '; CI is set, so this is a failure, not a skip')
        pytest.skip(advice)
    return path
