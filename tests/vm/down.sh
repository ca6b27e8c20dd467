#!/usr/bin/env bash
# Stop the VM lab: kill exactly the QEMU processes up.sh started (their pid
# files), remove their taps, the bridge and its network namespace, and the VMs'
# overlays. The cached image stays.
set -euo pipefail
work=${VM_WORKDIR:-/var/tmp/ironclad-swarm-vm}
run=$work/run
netns=${VM_NETNS:-icsvm}
log() { printf '[vm-down] %s\n' "$*" >&2; }

shopt -s nullglob
for pidfile in "$run"/vm*.pid; do
    pid=$(cat "$pidfile")
    name=$(basename "$pidfile" .pid)
    # Only a QEMU whose command line names this VM's overlay is ours.
    if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$run/$name.qcow2"; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
        log "$name (pid $pid) stopped"
    fi
    rm -f "$pidfile"
done
# Taps left in the host namespace (a boot that failed before moving them).
for tap in /sys/class/net/icsvm-t*; do
    ip link del "$(basename "$tap")"
done
if ip netns list | grep -qw "$netns"; then
    for tap in $(ip -n "$netns" -o link show | awk -F': ' '{print $2}' | grep '^icsvm-t' || true); do
        ip -n "$netns" link del "${tap%@*}"
    done
    ip netns del "$netns"
fi
rm -f "$run"/vm*.qcow2 "$run/lab.json" "$run/inventory.ini"
log "lab down (console logs kept in $run)"
