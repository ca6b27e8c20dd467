#!/usr/bin/env bash
# Build the lab's images on the local Docker Engine without any image registry:
#   ironclad-swarm-lab/base:bookworm   Debian 12 from debootstrap, imported
#   ironclad-swarm-lab/node:bookworm   base + systemd as init (the lab's "hosts")
#   ironclad-swarm-lab/probe:1         busybox only (service image for tests)
# Each image carries a label with the hash of the inputs that made it and is
# rebuilt only when they change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mirror=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=${LAB_WORKDIR:-/var/tmp/ironclad-swarm-lab}
base_pkgs=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,kmod,procps,ca-certificates,nftables,iptables,gnupg
log() { printf '[lab-images] %s\n' "$*"; }

label_of() { docker image inspect --format '{{ index .Config.Labels "ironclad.lab.inputs" }}' "$1" 2>/dev/null || true; }

base_hash=$(printf '%s %s\n' "$base_pkgs" "$mirror" | sha256sum | cut -c1-16)
node_hash=$( (echo "$base_hash"; cat "$here/Dockerfile") | sha256sum | cut -c1-16)
probe_hash=v2

if [[ $(label_of ironclad-swarm-lab/base:bookworm) != "$base_hash" ]]; then
    log "debootstrap Debian 12 (bookworm) into $work/rootfs"
    rm -rf "$work/rootfs"; mkdir -p "$work"
    debootstrap --variant=minbase --include="$base_pkgs" bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*_Packages
    tar -C "$work/rootfs" -c . | docker import --change "LABEL ironclad.lab.inputs=$base_hash" \
        - ironclad-swarm-lab/base:bookworm >/dev/null
    rm -rf "$work/rootfs"
fi

if [[ $(label_of ironclad-swarm-lab/node:bookworm) != "$node_hash" ]]; then
    log "building ironclad-swarm-lab/node:bookworm"
    docker build -q --label "ironclad.lab.inputs=$node_hash" -t ironclad-swarm-lab/node:bookworm "$here" >/dev/null
fi

if [[ $(label_of ironclad-swarm-lab/probe:1) != "$probe_hash" ]]; then
    log "building ironclad-swarm-lab/probe:1 (busybox)"
    docker run --rm -v "$work:/out" ironclad-swarm-lab/base:bookworm bash -ec '
        apt-get update -qq && apt-get install -y -qq --no-install-recommends busybox-static >/dev/null
        rm -rf /out/probe && mkdir -p /out/probe/bin /out/probe/tmp /out/probe/www
        cp /bin/busybox /out/probe/bin/busybox
        for app in $(/bin/busybox --list); do [ "$app" = busybox ] || ln -s busybox /out/probe/bin/$app; done
        echo ironclad-probe > /out/probe/www/index.html'
    tar -C "$work/probe" -c . | docker import --change "LABEL ironclad.lab.inputs=$probe_hash" \
        --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' - ironclad-swarm-lab/probe:1 >/dev/null
    rm -rf "$work/probe"
fi
log "images ready: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' 'ironclad-swarm-lab/*' | tr '\n' ' ')"
