# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record what swarm_audit and ipsec_audit's node checks read, for the unit tests.

Run on a swarm manager of the lab (it needs the Docker SDK for Python, as the nodes have):
    docker exec -i LAB-manager-1 python3 - < tests/tooling/record_swarm_view.py > OUT.json
It prints one JSON document: the engine's raw answers (info, swarm inspect, nodes, overlay
networks, services, running tasks, secrets) with every environment variable's value replaced
by "<redacted>", and the node's /proc/net/tcp and tcp6. Nothing is changed on the node.
"""

import json

import docker

api = docker.APIClient(base_url='unix:///var/run/docker.sock', version='auto')


def redact(services):
    for service in services:
        spec = service.get('Spec', {}).get('TaskTemplate', {}).get('ContainerSpec', {})
        spec['Env'] = [e.split('=', 1)[0] + '=<redacted>' for e in spec.get('Env') or []]
        previous = service.get('PreviousSpec', {}).get('TaskTemplate', {}).get('ContainerSpec', {})
        if previous.get('Env'):
            previous['Env'] = [e.split('=', 1)[0] + '=<redacted>' for e in previous['Env']]
    return services


def redact_tasks(tasks):
    for task in tasks:
        spec = task.get('Spec', {}).get('ContainerSpec', {})
        spec['Env'] = [e.split('=', 1)[0] + '=<redacted>' for e in spec.get('Env') or []]
    return tasks


def read(path):
    with open(path) as handle:
        return handle.read()


info = api.info()
out = {
    'info': {'Swarm': info.get('Swarm'), 'ServerVersion': info.get('ServerVersion'),
             'LiveRestoreEnabled': info.get('LiveRestoreEnabled'), 'LoggingDriver': info.get('LoggingDriver')},
    'swarm': api.inspect_swarm(),
    'nodes': api.nodes(),
    'networks': api.networks(filters={'driver': 'overlay'}),
    'services': redact(api.services()),
    'tasks': redact_tasks(api.tasks(filters={'desired-state': 'running'})),
    'secrets': [{'ID': s['ID'], 'Spec': {'Name': s['Spec']['Name']}} for s in api.secrets()],
    'proc_net_tcp': read('/proc/net/tcp'),
    'proc_net_tcp6': read('/proc/net/tcp6'),
}
for key in ('JoinTokens',):
    out['swarm'].pop(key, None)
print(json.dumps(out, indent=1, sort_keys=True))
