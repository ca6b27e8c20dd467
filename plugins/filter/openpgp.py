# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fingerprints of the primary keys in an OpenPGP public key file, without gpg on either side.

The engine role uses it to check Docker's repository signing key before apt trusts it
(RFC 4880 section 12.2 for v4 keys, RFC 9580 section 5.5.4 for v6 keys, draft v5 keys
alike). Documentation lives in the sidecar ``openpgp_fingerprints.yml``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes

PUBLIC_KEY = 6
ARMOR_BEGIN = re.compile(rb'^-----BEGIN PGP PUBLIC KEY BLOCK-----\s*$', re.M)
ARMOR_END = re.compile(rb'^-----END PGP PUBLIC KEY BLOCK-----\s*$', re.M)


def _dearmor(data):
    begin = ARMOR_BEGIN.search(data)
    if not begin:
        return data
    end = ARMOR_END.search(data, begin.end())
    if not end:
        raise AnsibleFilterError('the armoured key has no END line: the download is incomplete')
    lines = data[begin.end():end.start()].strip().splitlines()
    # Armour headers ("Comment: ...") end at the first empty line, when there are any.
    if any(b':' in line for line in lines[:1]):
        blank = [i for i, line in enumerate(lines) if not line.strip()]
        lines = lines[blank[0] + 1:] if blank else lines
    body = b''.join(line.strip() for line in lines if line.strip() and not line.startswith(b'='))
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise AnsibleFilterError('the armoured key is not valid base64: %s' % error)


def _packets(data):
    """(tag, body) of each packet, old and new header formats."""
    pos = 0
    while pos < len(data):
        first = data[pos]
        if not first & 0x80:
            raise AnsibleFilterError('not an OpenPGP key: byte %d is not a packet header' % pos)
        pos += 1
        if first & 0x40:
            tag = first & 0x3F
            if pos >= len(data):
                raise AnsibleFilterError('OpenPGP data ends inside a packet header')
            octet = data[pos]
            if octet < 192:
                length, pos = octet, pos + 1
            elif octet < 224:
                if pos + 1 >= len(data):
                    raise AnsibleFilterError('OpenPGP data ends inside a packet header')
                length, pos = ((octet - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif octet == 255:
                length, pos = int.from_bytes(data[pos + 1:pos + 5], 'big'), pos + 5
            else:
                raise AnsibleFilterError('partial-length packets do not occur in key files')
        else:
            tag, kind = (first >> 2) & 0x0F, first & 0x03
            if kind == 3:
                length = len(data) - pos
            else:
                size = (1, 2, 4)[kind]
                length, pos = int.from_bytes(data[pos:pos + size], 'big'), pos + size
        if pos + length > len(data):
            raise AnsibleFilterError('OpenPGP data ends inside a packet (tag %d): the download is incomplete' % tag)
        yield tag, data[pos:pos + length]
        pos += length


def _fingerprint(body):
    version = body[0] if body else None
    if version == 4:
        return hashlib.sha1(b'\x99' + len(body).to_bytes(2, 'big') + body).hexdigest().upper()
    if version in (5, 6):
        prefix = b'\x9a' if version == 5 else b'\x9b'
        return hashlib.sha256(prefix + len(body).to_bytes(4, 'big') + body).hexdigest().upper()
    raise AnsibleFilterError('OpenPGP key version %r is not supported (4, 5 or 6)' % version)


def openpgp_fingerprints(data, encoding='raw'):
    """Fingerprints (upper-case hex, no spaces) of the primary public keys in data."""
    if encoding == 'base64':
        try:
            raw = base64.b64decode(to_bytes(data), validate=True)
        except (binascii.Error, ValueError) as error:
            raise AnsibleFilterError('openpgp_fingerprints: input is not base64: %s' % error)
    elif encoding == 'raw':
        raw = to_bytes(data, errors='surrogate_or_strict')
    else:
        raise AnsibleFilterError("openpgp_fingerprints: encoding must be 'raw' or 'base64', got %r" % (encoding,))
    keys = [_fingerprint(body) for tag, body in _packets(_dearmor(raw)) if tag == PUBLIC_KEY]
    if not keys:
        raise AnsibleFilterError('openpgp_fingerprints: no public key in the data')
    return keys


class FilterModule:
    """OpenPGP key fingerprints for ironclad.swarm.engine."""

    def filters(self):
        return {'openpgp_fingerprints': openpgp_fingerprints}
