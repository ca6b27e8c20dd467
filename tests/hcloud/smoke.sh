#!/usr/bin/env bash
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Drive the REAL hetzner.hcloud modules and inventory plugin against the stand-in:
# every resource is created (changed), then re-applied (not changed), read back with
# the *_info modules and the inventory plugin, then removed.
#
#   tests/hcloud/smoke.sh            # ACTION_POLLS=0 by default: actions succeed on the first poll
#   ACTION_POLLS=1 tests/hcloud/smoke.sh   # one "running" answer first (the modules then back off 2 s)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
BIN=$(dirname "$PY")
WORK=$(mktemp -d)
POOL=${IPV4_POOL:-192.0.2.10,192.0.2.11}

"$PY" "$ROOT/tests/hcloud/standin.py" --port-file "$WORK/port" --action-polls "${ACTION_POLLS:-0}" \
    --ipv4-pool "$POOL" >"$WORK/standin.log" 2>&1 &
STANDIN_PID=$!
trap 'kill "$STANDIN_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")

export HCLOUD_TOKEN=standin-token HCLOUD_ENDPOINT="http://127.0.0.1:$PORT/v1"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_DEPRECATION_WARNINGS=false
cd "$ROOT"

FAILED=0
# run EXPECT MODULE ARGS: EXPECT is CHANGED, SUCCESS (= ok, not changed) or FAILED
run() {
    local expect=$1 module=$2 args=$3 out
    out=$("$BIN/ansible" localhost -m "hetzner.hcloud.$module" -a "$args" 2>&1) || true
    if grep -q "^localhost | $expect" <<<"$out"; then
        echo "ok   $expect  $module $args"
    else
        echo "FAIL want $expect  $module $args"
        printf "     %s\n" "${out//$'\n'/$'\n'     }" | head -20
        FAILED=1
    fi
}

KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ4a2V5Zm9ydGhlc3RhbmRpbnNtb2tldGVzdDAx smoke@test"
FW1='{"name": "fw1", "rules": [{"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0", "::/0"]},
                                {"direction": "in", "protocol": "esp", "source_ips": ["203.0.113.5/32"]}]}'

for expect in CHANGED SUCCESS; do
    run "$expect" ssh_key "name=k1 public_key='$KEY' labels={'ironclad.swarm/cluster':'c1'}"
    run "$expect" placement_group "name=pg1 type=spread labels={'ironclad.swarm/cluster':'c1'}"
    run "$expect" firewall "$FW1"
    run "$expect" firewall '{"name": "fw2", "rules": []}'
    run "$expect" server "name=t1 server_type=cx22 image=debian-13 location=fsn1 labels={'a':'b','ironclad.swarm/cluster':'c1'} ssh_keys=k1 placement_group=pg1 firewalls=fw1"
    run "$expect" server "name=t2 server_type=cax11 image=debian-13 location=nbg1 labels={'ironclad.swarm/cluster':'c1'} ssh_keys=k1"
done
# fw2 reaches both servers through a label selector (applied after the servers exist)
run CHANGED firewall_resource "firewall=fw2 label_selectors=ironclad.swarm/cluster=c1"
run SUCCESS firewall_resource "firewall=fw2 label_selectors=ironclad.swarm/cluster=c1"
# Known module behaviour: with firewalls=fw1 the server module sees fw2 in public_net.firewalls (applied
# by selector) and tries to remove it from the server directly, which the API refuses.
run FAILED server "name=t1 firewalls=fw1"
run SUCCESS server "name=t1 server_type=cx22 image=debian-13 location=fsn1 labels={'a':'b','ironclad.swarm/cluster':'c1'}"
run CHANGED server "name=t2 server_type=cax11 image=debian-13 location=nbg1 labels={'ironclad.swarm/cluster':'c1','role':'manager'}"
run SUCCESS server "name=t2 state=started"
run CHANGED server "name=t2 state=stopped"
run CHANGED server "name=t2 state=started"

for module in server_info firewall_info ssh_key_info location_info server_type_info image_info; do
    run SUCCESS "$module" ""
done
run SUCCESS server_info "label_selector=ironclad.swarm/cluster=c1"

mkdir -p "$WORK/inv"
printf 'plugin: hetzner.hcloud.hcloud\nlabel_selector: ironclad.swarm/cluster=c1\n' >"$WORK/inv/hcloud.yml"
INV=$("$BIN/ansible-inventory" -i "$WORK/inv/hcloud.yml" --list 2>"$WORK/inv.err") || { cat "$WORK/inv.err"; FAILED=1; }
if "$PY" - "$INV" "$POOL" <<'EOF'
import json, sys
def plain(value):  # newer ansible-core marks strings as {"__ansible_unsafe": ...} in --list output
    if isinstance(value, dict):
        return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else {k: plain(v) for k, v in value.items()}
    return [plain(v) for v in value] if isinstance(value, list) else value
inv = plain(json.loads(sys.argv[1]))
pool = sys.argv[2].split(",")
hv = inv["_meta"]["hostvars"]
assert sorted(hv) == ["t1", "t2"], sorted(hv)
assert [hv["t1"]["hcloud_ipv4"], hv["t2"]["hcloud_ipv4"]] == pool[:2], hv
assert hv["t1"]["hcloud_labels"] == {"a": "b", "ironclad.swarm/cluster": "c1"}, hv["t1"]
assert hv["t2"]["hcloud_location"] == "nbg1" and hv["t2"]["hcloud_architecture"] == "arm", hv["t2"]
assert hv["t1"]["ansible_host"] == pool[0], hv["t1"]
print("ok   inventory lists t1 t2 with hcloud_ipv4 and hcloud_labels")
EOF
then :; else FAILED=1; fi

run CHANGED firewall_resource "firewall=fw2 label_selectors=ironclad.swarm/cluster=c1 state=absent"
run SUCCESS firewall_resource "firewall=fw2 label_selectors=ironclad.swarm/cluster=c1 state=absent"
run CHANGED firewall "name=fw1 state=absent force=true"
for name in t1 t2; do run CHANGED server "name=$name state=absent"; done
run SUCCESS server "name=t1 state=absent"
run CHANGED firewall "name=fw2 state=absent"
run CHANGED placement_group "name=pg1 state=absent"
run CHANGED ssh_key "name=k1 state=absent"
run SUCCESS ssh_key "name=k1 state=absent"

if [ "$FAILED" = 0 ]; then echo "smoke: all passed"; else echo "smoke: FAILED"; exit 1; fi
