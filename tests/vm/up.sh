#!/usr/bin/env bash
# Boot the VM lab: N Debian VMs (VM_SUITE: trixie by default, bookworm or forky;
# see build-image.sh) under QEMU TCG (KVM hangs on these machines).
#   NIC 1 (eth0): QEMU user networking, restrict=on, only SSH forwarded from
#                 127.0.0.1:$VM_SSH_PORT_BASE+N; the guest reaches nothing else.
#   NIC 2 (eth1): a tap on the bridge $VM_BRIDGE inside the network namespace
#                 $VM_NETNS, which has no address and no route anywhere: the VMs'
#                 swarm traffic flows there and only there, and the host captures
#                 it with `ip netns exec $VM_NETNS tcpdump -i $VM_BRIDGE`.
#                 (A bridge in the host namespace does not work where Docker runs:
#                 br_netfilter sends bridged frames through the host's iptables
#                 FORWARD chain, policy DROP, and the per-bridge nf_call_iptables
#                 cannot turn that off.)
# Writes an Ansible inventory (vm1 manager, the rest workers) and lab.json, and
# waits until every VM answers SSH.
#
#   tests/vm/up.sh [N]        default N=3; VM_MEMORY (MiB, default 1024), VM_SUITE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-${VM_COUNT:-3}}
work=${VM_WORKDIR:-/var/tmp/ironclad-swarm-vm}
run=$work/run
bridge=${VM_BRIDGE:-icsvm0}
netns=${VM_NETNS:-icsvm}
port_base=${VM_SSH_PORT_BASE:-2220}
net_prefix=${VM_NET_PREFIX:-192.0.2}   # TEST-NET-1: documentation range, never routed
memory=${VM_MEMORY:-1024}
boot_timeout=${VM_BOOT_TIMEOUT:-900}  # forky took 465 s on a loaded 2-core machine (AppArmor 4 compiles its profiles on first boot)
log() { printf '[vm-up] %s\n' "$*" >&2; }

[[ $count =~ ^[1-9]$ ]] || { log "N must be 1..9, got '$count'"; exit 2; }
if [[ -e $run/lab.json ]]; then
    log "a lab is already up ($run/lab.json): run tests/vm/down.sh first"
    exit 1
fi
image=$("$here/build-image.sh")
mkdir -p "$run"
install -m 0600 "$image/id_ed25519" "$run/id_ed25519"

if ! ip netns list | grep -qw "$netns"; then
    ip netns add "$netns"
fi
ip -n "$netns" link set lo up
if ! ip -n "$netns" link show "$bridge" >/dev/null 2>&1; then
    ip -n "$netns" link add "$bridge" type bridge
fi
ip -n "$netns" link set "$bridge" type bridge stp_state 0 forward_delay 0
ip -n "$netns" link set "$bridge" up

ssh_opts=(-i "$run/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
          -o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes)
start=$(date +%s)
for i in $(seq 1 "$count"); do
    name=vm$i
    tap=icsvm-t$i
    port=$((port_base + i))
    qemu-img create -q -f qcow2 -b "$image/disk.img" -F raw "$run/$name.qcow2"
    # The tap is made here (QEMU opens it by name), then moved into the lab namespace.
    ip tuntap add dev "$tap" mode tap
    qemu-system-x86_64 -name "$name" -machine pc,accel=tcg -cpu max -smp 1 -m "$memory" \
        -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname=$name ironclad.lab_addr=$net_prefix.1$i/24" \
        -drive "file=$run/$name.qcow2,if=virtio,format=qcow2,cache=unsafe" \
        -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
        -netdev "tap,id=n1,ifname=$tap,script=no,downscript=no" \
        -device "virtio-net-pci,netdev=n1,mac=52:54:00:1c:5d:0$i" \
        -display none -monitor none -serial "file:$run/$name.console.log" \
        -daemonize -pidfile "$run/$name.pid"
    ip link set "$tap" netns "$netns"
    ip -n "$netns" link set "$tap" master "$bridge" up
    log "$name: pid $(cat "$run/$name.pid"), ssh 127.0.0.1:$port, lab address $net_prefix.1$i"
done

host_line() { echo "vm$1 ansible_port=$((port_base + $1)) cluster_advertise_addr=$net_prefix.1$1"; }
{
    echo "[swarm_managers]"
    host_line 1
    echo "[swarm_workers]"
    for i in $(seq 2 "$count"); do host_line "$i"; done
    echo "[all:vars]"
    echo "ansible_host=127.0.0.1"
    echo "ansible_user=root"
    echo "ansible_ssh_private_key_file=$run/id_ed25519"
    echo "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'"
} >"$run/inventory.ini"

for i in $(seq 1 "$count"); do
    port=$((port_base + i))
    until ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 'systemctl is-system-running --wait >/dev/null 2>&1; true' 2>/dev/null; do
        if (($(date +%s) - start > boot_timeout)); then
            log "vm$i did not answer SSH within $boot_timeout s; console: $run/vm$i.console.log"
            exit 1
        fi
        if ! kill -0 "$(cat "$run/vm$i.pid")" 2>/dev/null; then
            log "vm$i's QEMU exited; console: $run/vm$i.console.log"
            exit 1
        fi
        sleep 3
    done
    log "vm$i answers SSH after $(($(date +%s) - start)) s"
done

python3 - "$run" "$count" "$port_base" "$net_prefix" "$bridge" "$netns" "$memory" "$(($(date +%s) - start))" <<'PY'
import json, sys
run, count, port_base, prefix, bridge, netns, memory, boot = sys.argv[1:]
nodes = [{"name": "vm%d" % i, "port": int(port_base) + i, "lab_addr": "%s.1%d" % (prefix, i)}
         for i in range(1, int(count) + 1)]
json.dump({"bridge": bridge, "netns": netns, "identity_file": run + "/id_ed25519", "inventory": run + "/inventory.ini",
           "memory_mib": int(memory), "boot_to_ssh_s": int(boot), "nodes": nodes},
          open(run + "/lab.json", "w"), indent=2)
PY
log "all $count VMs answer SSH after $(($(date +%s) - start)) s; inventory: $run/inventory.ini"
