#!/usr/bin/env bash
# Build the lab's images on the local Docker Engine without any image registry:
#   ironclad-swarm-lab/base:SUITE   Debian SUITE from debootstrap, imported
#   ironclad-swarm-lab/node:SUITE   base + systemd as init (the lab's "hosts")
#   ironclad-swarm-lab/probe:1      busybox only (service image for tests)
# SUITE is bookworm (Debian 12, docker.io 20.10), trixie (Debian 13, docker.io 26.1,
# the default) or forky (testing, docker.io 28.5).
# Each image carries a label with the hash of the inputs that made it and is
# rebuilt only when they change.
#
#   tests/lab/build-images.sh [SUITE ...]     (or LAB_SUITE=SUITE)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mirror=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=${LAB_WORKDIR:-/var/tmp/ironclad-swarm-lab}
base_pkgs=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,kmod,procps,ca-certificates,nftables,iptables,gnupg
log() { printf '[lab-images] %s\n' "$*"; }

label_of() { docker image inspect --format '{{ index .Config.Labels "ironclad.lab.inputs" }}' "$1" 2>/dev/null || true; }

build_suite() {
    local suite=$1 script='' cgroup=v1 base_hash node_hash rootfs=$work/rootfs-$1
    case $suite in
        bookworm|trixie) ;;
        # Debian 12's debootstrap has no script for testing's codename: sid's fits.
        forky) [[ -e /usr/share/debootstrap/scripts/forky ]] || script=/usr/share/debootstrap/scripts/sid
               cgroup=v2 ;;
        *) log "unknown suite '$suite': use bookworm, trixie or forky" >&2; return 2 ;;
    esac
    base_hash=$(printf '%s %s %s\n' "$base_pkgs" "$mirror" "$suite" | sha256sum | cut -c1-16)
    node_hash=$( (echo "$base_hash"; cat "$here/Dockerfile" "$here/node-init") | sha256sum | cut -c1-16)

    if [[ $(label_of "ironclad-swarm-lab/base:$suite") != "$base_hash" ]]; then
        log "debootstrap Debian $suite into $rootfs"
        rm -rf "$rootfs"; mkdir -p "$work"
        # shellcheck disable=SC2086  # $script is empty or one path
        debootstrap --variant=minbase --include="$base_pkgs" "$suite" "$rootfs" "$mirror" $script \
            >"$work/debootstrap-$suite.log" 2>&1 \
            || { tail -20 "$work/debootstrap-$suite.log" >&2; exit 1; }
        rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*_Packages
        tar -C "$rootfs" -c . | docker import --change "LABEL ironclad.lab.inputs=$base_hash" \
            - "ironclad-swarm-lab/base:$suite" >/dev/null
        rm -rf "$rootfs"
    fi

    if [[ $(label_of "ironclad-swarm-lab/node:$suite") != "$node_hash" ]]; then
        log "building ironclad-swarm-lab/node:$suite"
        docker build -q --build-arg "SUITE=$suite" --build-arg "CGROUP=$cgroup" --label "ironclad.lab.inputs=$node_hash" \
            -t "ironclad-swarm-lab/node:$suite" "$here" >/dev/null
    fi
}

# One build at a time (make test starts one in the background; a stage that needs
# the images waits here for it, then finds them made).
mkdir -p "$work"
exec 9>"$work/.build.lock"
flock 9

suites=("$@")
((${#suites[@]})) || suites=("${LAB_SUITE:-trixie}")
for suite in "${suites[@]}"; do
    build_suite "$suite"
done

probe_hash=v2
if [[ $(label_of ironclad-swarm-lab/probe:1) != "$probe_hash" ]]; then
    log "building ironclad-swarm-lab/probe:1 (busybox)"
    docker run --rm -e DEBIAN_FRONTEND=noninteractive -v "$work:/out" "ironclad-swarm-lab/base:${suites[0]}" bash -ec '
        apt-get -o Acquire::Check-Valid-Until=false update -qq
        apt-get install -y -qq --no-install-recommends busybox-static >/dev/null
        rm -rf /out/probe && mkdir -p /out/probe/bin /out/probe/tmp /out/probe/www
        cp /bin/busybox /out/probe/bin/busybox
        for app in $(/bin/busybox --list); do [ "$app" = busybox ] || ln -s busybox /out/probe/bin/$app; done
        echo ironclad-probe > /out/probe/www/index.html'
    tar -C "$work/probe" -c . | docker import --change "LABEL ironclad.lab.inputs=$probe_hash" \
        --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' - ironclad-swarm-lab/probe:1 >/dev/null
    rm -rf "$work/probe"
fi
log "images ready: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' 'ironclad-swarm-lab/*' | tr '\n' ' ')"
