# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""The ESP usability probe: can this kernel use ESP, and ESP with AES-GCM?

It adds an ESP SA in a network namespace made for the purpose, then deletes the namespace (and
with it the SA). Only the kernel's answer to a real SA is conclusive: /proc/crypto lists loaded
algorithms only, and the config does not say whether a module file is really there. The caller
supplies how `ip` is run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


PROBE_SRC = '192.0.2.1'
PROBE_DST = '192.0.2.2'
# 160 bits: a 128-bit AES key and the 32-bit salt rfc4106 needs; a throwaway constant.
PROBE_AEAD = ('aead', 'rfc4106(gcm(aes))', '0x' + '11' * 20, '128')
PROBE_NULL = ('enc', 'cipher_null', '')

XFRM_OK = 'ok'
XFRM_NO_TYPE = 'no-esp'
XFRM_NO_ALGORITHM = 'no-algorithm'
XFRM_ERROR = 'error'


def xfrm_state_add_argv(spi, algorithm):
    """argv (after `ip`) that adds a transport-mode ESP SA between two documentation addresses."""
    return (['xfrm', 'state', 'add', 'src', PROBE_SRC, 'dst', PROBE_DST, 'proto', 'esp',
             'spi', '0x%08x' % spi, 'reqid', '1', 'mode', 'transport'] + list(algorithm))


def classify_state_add_error(rc, message):
    """What the kernel's answer to `ip xfrm state add` means.

    rc 0 -> XFRM_OK. iproute2 reports EPROTONOSUPPORT from the kernel (no ESP type
    registered) as "Requested type not found", and a missing algorithm as
    "Requested AEAD/ENC/AUTH algorithm not found". Anything else is XFRM_ERROR.
    """
    if rc == 0:
        return XFRM_OK
    text = (message or '').lower()
    if 'algorithm not found' in text:
        return XFRM_NO_ALGORITHM
    if 'type not found' in text or 'protocol not supported' in text:
        return XFRM_NO_TYPE
    return XFRM_ERROR


def probe_esp(run, netns_name):
    """Ask the kernel whether ESP, and ESP with AES-GCM, can be used.

    run(argv) runs `ip` with argv and returns (rc, stdout, stderr). The namespace
    netns_name is created and always deleted. Returns a dict:
      esp: True, False or None (unknown)
      aes_gcm: True, False or None
      detail: the kernel's answers in words
      esp_detail, aes_gcm_detail: the answer that settled each (empty when unknown)
    """
    result = {'esp': None, 'aes_gcm': None, 'detail': '', 'esp_detail': '', 'aes_gcm_detail': ''}
    rc, out, err = run(['netns', 'add', netns_name])
    if rc != 0:
        result['detail'] = 'cannot create a network namespace for the probe: %s' % (err or out).strip()
        return result
    try:
        details = []
        rc, out, err = run(['netns', 'exec', netns_name, 'ip'] + xfrm_state_add_argv(0x1c0a, PROBE_AEAD))
        verdict = classify_state_add_error(rc, err or out)
        if verdict == XFRM_OK:
            details.append('an ESP SA with rfc4106(gcm(aes)) was accepted')
            result.update(esp=True, aes_gcm=True, esp_detail=details[-1], aes_gcm_detail=details[-1])
        elif verdict == XFRM_NO_TYPE:
            details.append('ESP SA refused: %s' % (err or out).strip())
            result.update(esp=False, esp_detail=details[-1])
        else:
            details.append('ESP SA with rfc4106(gcm(aes)) refused: %s' % (err or out).strip())
            if verdict == XFRM_NO_ALGORITHM:
                result.update(aes_gcm=False, aes_gcm_detail=details[-1])
            # Does the kernel have ESP at all? Ask again with the null cipher.
            rc, out, err = run(['netns', 'exec', netns_name, 'ip'] + xfrm_state_add_argv(0x1c0b, PROBE_NULL))
            second = classify_state_add_error(rc, err or out)
            if second == XFRM_OK:
                details.append('an ESP SA with cipher_null was accepted')
                result.update(esp=True, esp_detail=details[-1])
            elif second == XFRM_NO_TYPE:
                details.append('ESP SA with cipher_null refused: %s' % (err or out).strip())
                result.update(esp=False, esp_detail=details[-1])
            else:
                details.append('ESP SA with cipher_null refused: %s' % (err or out).strip())
        result['detail'] = '; '.join(details)
    finally:
        run(['netns', 'delete', netns_name])
    return result
