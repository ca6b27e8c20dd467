# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The recorded outputs, one folder per Docker version (see tests/unit/fixtures/README.md).

Tests that read lab recordings take a `Recording` per version through pytest's
parametrize (the `versions()` list), so that every assertion runs on Docker 20.10 (Debian 12),
26.1 (Debian 13) and 28.5 (Debian testing) alike; where a version really differs, the test
asserts that version's own truth from a table keyed by `Recording.version`.
"""

from __future__ import annotations

import json
import os

import platforms
import pytest

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')

# Docker versions with recordings, and the Debian suite each came from: every release the lab builds
# (molecule/shared/platforms.json), so a release added there needs its recordings here.
DOCKER_VERSIONS = {docker: codename for codename, docker in platforms.suite_docker().items()}


class Recording:
    """One folder of recordings: fixtures/KIND/docker-VERSION[-VARIANT]/."""

    def __init__(self, kind, version, variant=''):
        self.kind = kind
        self.version = version
        self.variant = variant
        self.dir = os.path.join(FIXTURES, kind, 'docker-%s%s' % (version, '-' + variant if variant else ''))

    def __repr__(self):
        return 'Recording(%s, %s%s)' % (self.kind, self.version, ' ' + self.variant if self.variant else '')

    def path(self, name):
        return os.path.join(self.dir, name)

    def has(self, name):
        return os.path.exists(self.path(name))

    def text(self, name):
        with open(self.path(name)) as handle:
            return handle.read()

    def json(self, name):
        return json.loads(self.text(name))


def versions(kind, only=None):
    """pytest.param(Recording) for each Docker version (or those in only), ids docker-VERSION."""
    return [pytest.param(Recording(kind, version), id='docker-%s' % version)
            for version in DOCKER_VERSIONS if only is None or version in only]
