# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""openpgp_fingerprints on real key files: Debian's bookworm archive keys, whose fingerprints
gpg 2.2.40 printed (tests/unit/fixtures/openpgp/README.md)."""

from __future__ import annotations

import base64
import os

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ironclad.swarm.plugins.filter.openpgp import FilterModule, openpgp_fingerprints

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'openpgp')
# file -> fingerprints gpg --show-keys --with-colons gave for its primary keys
KEYS = {
    'bookworm-stable.gpg': ['4D64FEC119C2029067D6E791F8D2585B8783D481'],     # binary, ed25519 (new-format packets)
    'bookworm-automatic.asc': ['B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8'],  # armoured, RSA 4096 with a subkey
}


def recorded(name):
    with open(os.path.join(FIXTURES, name), 'rb') as handle:
        return handle.read()


@pytest.mark.parametrize('name', sorted(KEYS))
def test_fingerprints_match_gpg(name):
    data = recorded(name)
    assert openpgp_fingerprints(base64.b64encode(data).decode(), 'base64') == KEYS[name]


def test_armoured_text_as_given():
    assert openpgp_fingerprints(recorded('bookworm-automatic.asc').decode()) == KEYS['bookworm-automatic.asc']


def test_subkeys_are_not_listed():
    # the RSA key has a signing subkey 4CB50190207B4758A3F73A796ED0E7B82643E131 (gpg's `fpr` after `sub`)
    fingerprints = openpgp_fingerprints(recorded('bookworm-automatic.asc').decode())
    assert '4CB50190207B4758A3F73A796ED0E7B82643E131' not in fingerprints


def test_two_keys_in_one_file():
    data = recorded('bookworm-stable.gpg') + base64.b64decode(
        b''.join(line for line in recorded('bookworm-automatic.asc').splitlines()[2:-2] if not line.startswith(b'=')))
    assert openpgp_fingerprints(base64.b64encode(data).decode(), 'base64') == (
        KEYS['bookworm-stable.gpg'] + KEYS['bookworm-automatic.asc'])


@pytest.mark.parametrize('data, encoding, message', [
    (b'<html>Moved</html>', 'raw', 'not an OpenPGP key: byte 0 is not a packet header'),
    (b'', 'raw', 'no public key in the data'),
    ('not base64!', 'base64', 'input is not base64'),
    (b'x', 'hex', "encoding must be 'raw' or 'base64'"),
])
def test_what_is_not_a_key_is_refused(data, encoding, message):
    with pytest.raises(AnsibleFilterError, match=message):
        openpgp_fingerprints(data, encoding)


def test_a_truncated_download_is_refused():
    data = recorded('bookworm-stable.gpg')[:100]
    with pytest.raises(AnsibleFilterError, match='the download is incomplete'):
        openpgp_fingerprints(base64.b64encode(data).decode(), 'base64')


def test_an_armoured_key_without_its_end_line_is_refused():
    text = recorded('bookworm-automatic.asc').decode()
    with pytest.raises(AnsibleFilterError, match='has no END line'):
        openpgp_fingerprints(text[:len(text) // 2])


def test_the_filter_is_registered():
    assert FilterModule().filters()['openpgp_fingerprints'] is openpgp_fingerprints
