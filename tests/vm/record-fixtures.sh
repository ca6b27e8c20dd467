#!/usr/bin/env bash
# Record what Docker and the kernel of a converged VM lab show, as unit-test
# fixtures (tests/unit/fixtures/xfrm/<suite>/, described in ../README.md there).
# Read-only on the VMs apart from one global service on the encrypted network
# (so that every node joins it and Docker programs its SAs), which is removed
# again at the end. SA keys are replaced by 0xREDACTED before anything is written.
#
# Then, on the last node, the VM scenario's negative case: ESP from the second
# node dropped in the fence's input chain, listed with `nft -j`, deleted again.
#
#   VM_SUITE=trixie molecule converge -s encryption
#   tests/vm/record-fixtures.sh DIR        e.g. tests/unit/fixtures/xfrm/trixie
#
# VM_RECORD_READONLY=1 changes nothing at all (no service, no negative case): for
# a lab whose encrypted network already has a task on every node, such as the
# scenario's own during its verify step.
set -euo pipefail
out=${1:?usage: record-fixtures.sh OUTPUT_DIR}
work=${VM_WORKDIR:-/var/tmp/ironclad-swarm-vm}
run=$work/run
network=${VM_RECORD_NETWORK:-vm-enc}
service=ironclad-record
probe_image=ironclad-swarm-lab/probe:1
log() { printf '[vm-record] %s\n' "$*" >&2; }

[[ -e $run/lab.json ]] || { log "no lab is up ($run/lab.json): converge it first"; exit 1; }
mapfile -t nodes < <(python3 -c 'import json,sys; [print(n["name"], n["port"]) for n in json.load(open(sys.argv[1]))["nodes"]]' "$run/lab.json")
on() {
    local port=$1; shift
    ssh -i "$run/id_ed25519" -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 "$@"
}
redact() { sed -E 's/^(\s*(aead|enc|auth|auth-trunc) \S+) 0x[0-9a-fA-F]+/\1 0xREDACTED/'; }
manager_port=${nodes[0]#* }

readonly_run=${VM_RECORD_READONLY:-0}
if [[ $readonly_run == 1 ]]; then
    log "read-only: no service is started, no rule inserted"
else
    for entry in "${nodes[@]}"; do
        on "${entry#* }" "docker image inspect $probe_image >/dev/null 2>&1 || docker import --change 'CMD [\"/bin/sh\"]' --change 'ENV PATH=/bin' /opt/ironclad/probe-rootfs.tar $probe_image >/dev/null"
    done
    on "$manager_port" "docker service inspect $service >/dev/null 2>&1 || docker service create --detach --no-resolve-image --name $service --mode global --network $network --endpoint-mode dnsrr $probe_image sleep 100000 >/dev/null"
    trap 'on "$manager_port" "docker service rm $service" >/dev/null 2>&1 || true' EXIT
fi

# Every node runs the task and holds an ESP SA towards and from every other node.
want=$(( ${#nodes[@]} - 1 ))
for entry in "${nodes[@]}"; do
    name=${entry% *}
    for _ in $(seq 1 120); do
        running=1
        [[ $readonly_run == 1 ]] \
            || running=$(on "${entry#* }" "docker ps -q --filter label=com.docker.swarm.service.name=$service" | wc -l)
        sas=$(on "${entry#* }" "ip xfrm state" | grep -c '^src ' || true)
        ((running >= 1 && sas >= 2 * want)) && break
        sleep 5
    done
    log "$name: task running=$running, SAs=$sas"
done
[[ $readonly_run == 1 ]] || sleep 5

mkdir -p "$out"
# The rulesets first: in a read-only run on a lab that is being tested, they change soonest.
for entry in "${nodes[@]}"; do
    name=${entry% *}
    port=${entry#* }
    on "$port" "iptables-save" >"$out/$name-iptables-save.txt"
    on "$port" "iptables-save -t raw" >"$out/$name-iptables-save-raw.txt"
    on "$port" "nft -j list ruleset" >"$out/$name-nft-ruleset.json"
done
for entry in "${nodes[@]}"; do
    name=${entry% *}
    port=${entry#* }
    on "$port" "ip xfrm policy" >"$out/$name-docker-policy.txt"
    on "$port" "ip xfrm state" | redact >"$out/$name-docker-state.txt"
    on "$port" "ip -s xfrm state" | redact >"$out/$name-docker-state-s.txt"
    on "$port" "docker network inspect --verbose $network" >"$out/$name-docker-network-$network.json"
    on "$port" "docker info --format '{{json .Swarm}}'" >"$out/$name-docker-info-swarm.json"
    on "$port" "docker network inspect \$(docker network ls -q --filter driver=overlay)" >"$out/$name-docker-networks.json"
    on "$port" "cat /etc/ironclad-swarm/firewall.json" >"$out/$name-persisted-firewall.json"
    on "$port" "printf 'kernel: %s\n' \"\$(uname -r)\"; printf 'docker: %s\n' \"\$(docker version --format '{{.Server.Version}}')\";
                printf 'iproute2: %s\n' \"\$(ip -V)\"; printf 'nftables: %s\n' \"\$(nft --version)\";
                printf 'iptables: %s\n' \"\$(iptables --version)\";
                printf 'python3-docker: %s\n' \"\$(dpkg-query -W -f '\${Version}' python3-docker)\"" >"$out/$name-versions.txt"
    log "$name recorded into $out"
done
if grep -lE '^\s*(aead|enc|auth|auth-trunc) \S+ 0x[0-9a-fA-F]{8}' "$out"/*-state*.txt; then
    log "a key was left unredacted in the files above"; exit 1
fi
if [[ $readonly_run == 1 ]]; then
    log "read-only run: no negative case recorded"
    exit 0
fi
# The VM scenario's negative case, recorded on the last node: ESP from the second node
# dropped at the head of the fence's input chain, the ruleset listed, the rule deleted again.
last=${nodes[-1]}
peer_addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][1]["lab_addr"])' "$run/lab.json")
peer_name=${nodes[1]% *}
handle=$(on "${last#* }" "nft --echo --handle insert rule inet ironclad_swarm input ip saddr $peer_addr meta l4proto esp counter drop" \
         | sed -n 's/.*# handle \([0-9]*\).*/\1/p')
on "${last#* }" "nft -j list ruleset" >"$out/${last% *}-nft-ruleset-esp-drop-$peer_name.json"
on "${last#* }" "nft delete rule inet ironclad_swarm input handle $handle"
log "${last% *}: ruleset with ESP from $peer_name dropped recorded (rule $handle deleted again)"

