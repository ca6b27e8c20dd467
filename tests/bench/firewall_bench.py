# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Apply the swarm fence with 10, 100 and 1,000 peers and print apply time and rule count.

Runs the same batch swarm_firewall sends (one `nft -j -f -` transaction) either inside a lab
node (--node NAME, through `docker exec`) or in a network namespace this script creates and
removes (--netns NAME, needs root and nft on this machine). No packet is sent anywhere.

    .venv/bin/python tests/bench/firewall_bench.py --node ironclad-lab-worker-1
    .venv/bin/python tests/bench/firewall_bench.py --netns ironclad-fw-bench
"""

import argparse
import importlib
import ipaddress
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(HERE)), '.build', 'collections')


def load_fence():
    """The collection's fence helpers (the spec, nft's JSON in and out), from the checkout (make collection links it)."""
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)
    return (importlib.import_module('ansible_collections.ironclad.swarm.plugins.module_utils.fence.spec'),
            importlib.import_module('ansible_collections.ironclad.swarm.plugins.module_utils.fence.nftio'))


class Target:
    def __init__(self, node=None, netns=None):
        self.node, self.netns = node, netns
        if netns:
            subprocess.run(['ip', 'netns', 'add', netns], check=True)

    def nft(self, *args, data=None):
        if self.node:
            argv = ['docker', 'exec', '-i', self.node, 'nft'] + list(args)
        else:
            argv = ['ip', 'netns', 'exec', self.netns, 'nft'] + list(args)
        result = subprocess.run(argv, input=data, text=True, capture_output=True, check=False)
        if result.returncode != 0:
            raise SystemExit('nft %s failed: %s' % (' '.join(args), result.stderr.strip()))
        return result.stdout

    def close(self):
        if self.netns:
            subprocess.run(['ip', 'netns', 'del', self.netns], check=False)


def peers(count, base='10.0.0.1'):
    first = ipaddress.ip_address(base)
    return [str(first + i) for i in range(count)]


def params(peer_list):
    return {'peers': peer_list, 'managers': peer_list[:3], 'ssh_ports': [22], 'data_path_port': 4789,
            'drop_unencrypted_vxlan': False, 'input_policy': 'accept', 'allow': [], 'allow_icmp': True,
            'priority': -10}


def timed(target, batch):
    """Seconds one `nft -j -f -` transaction takes."""
    start = time.monotonic()
    target.nft('-j', '-f', '-', data=json.dumps(batch))
    return time.monotonic() - start


def run(target, sizes):
    spec, nft = load_fence()

    def table_now():
        return nft.table_objects(nft.parse_ruleset(target.nft('-j', 'list', 'ruleset')))

    def batch_for(count):
        return nft.replace_batch(spec.desired_objects(spec.build_spec(params(peers(count)))))

    before = table_now()
    print('%-7s %-12s %-12s %-14s %-6s %-9s' % ('peers', 'apply (s)', 'update (s)', 'compare (s)', 'rules', 'elements'))
    for size in sizes:
        if table_now() is not None:
            target.nft('-j', '-f', '-', data=json.dumps(nft.delete_batch()))
        apply_s = timed(target, batch_for(size))            # fresh host: the table is created
        update_s = timed(target, batch_for(size + 1))       # a node joins: one more element
        start = time.monotonic()                             # what swarm_firewall does to decide "unchanged"
        live = nft.canonical_table(nft.table_objects(nft.parse_ruleset(
            target.nft('-j', 'list', 'table', 'inet', 'ironclad_swarm'))))
        compare_s = time.monotonic() - start
        if live != nft.canonical_table(nft.table_objects_from_batch(batch_for(size + 1))):
            raise SystemExit('the table nft lists differs from the batch applied')
        row = (size, apply_s, update_s, compare_s, nft.rule_count(live), nft.element_count(live))
        print('%-7d %-12.3f %-12.3f %-14.3f %-6d %-9d' % row)
    # leave the target as it was
    if before is not None:
        target.nft('-j', '-f', '-', data=json.dumps(nft.replace_batch(before)))
    else:
        target.nft('-j', '-f', '-', data=json.dumps(nft.delete_batch()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument('--node', help='lab node container to run nft in')
    where.add_argument('--netns', help='network namespace to create, use and remove')
    parser.add_argument('--sizes', default='10,100,1000')
    args = parser.parse_args()
    target = Target(args.node, args.netns)
    try:
        run(target, [int(s) for s in args.sizes.split(',')])
    finally:
        target.close()


if __name__ == '__main__':
    main()
