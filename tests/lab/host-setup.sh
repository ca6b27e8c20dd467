#!/usr/bin/env bash
# Prepare this machine to run the ironclad.swarm lab and tests:
# a Docker Engine answering on /var/run/docker.sock, the host tools the
# lab image build needs, and promtool (the alert rules' tests, from Debian's
# prometheus package). Safe to run again: it only acts on what is missing.
set -euo pipefail

log() { printf '[host-setup] %s\n' "$*"; }

need_pkgs=()
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v rsync >/dev/null 2>&1 || need_pkgs+=(rsync)
command -v shellcheck >/dev/null 2>&1 || need_pkgs+=(shellcheck)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)

if ((${#need_pkgs[@]})); then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        log "missing ${need_pkgs[*]}: install them (Debian/Ubuntu: apt-get install ${need_pkgs[*]}) and run again" >&2
        exit 1
    fi
    log "installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # No service starts during the install: only promtool is wanted from prometheus, whose postinst
    # would start a Prometheus server (and fail the install where no init system can start it);
    # Docker is started below. A policy-rc.d already in place (container images have one) is kept.
    own_policy=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        own_policy=/usr/sbin/policy-rc.d
        trap 'rm -f "$own_policy"' EXIT
        printf '#!/bin/sh\n# tests/lab/host-setup.sh: no service starts during its install\nexit 101\n' >"$own_policy"
        chmod 755 "$own_policy"
    fi
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    if [[ -n $own_policy ]]; then
        rm -f "$own_policy"
        trap - EXIT
    fi
    if [[ " ${need_pkgs[*]} " == *" prometheus "* ]]; then
        # Nor at boot: the package enables its server.
        deb-systemd-helper disable prometheus.service >/dev/null 2>&1 || true
        update-rc.d prometheus disable >/dev/null 2>&1 || true
        log "promtool: $(promtool --version 2>&1 | head -n 1)"
    fi
fi

docker_answers() { timeout 10 docker version >/dev/null 2>&1; }

if docker_answers; then
    log "Docker Engine answers: $(docker version --format '{{.Server.Version}}')"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    log "no Docker Engine answers and this is not root: start dockerd (or add yourself to the docker group) and run again" >&2
    exit 1
fi

if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    log "starting docker.service"
    systemctl start docker
else
    log "no init system to ask: starting dockerd in the background (log: /var/log/dockerd-lab.log)"
    nohup dockerd >/var/log/dockerd-lab.log 2>&1 &
fi

for _ in $(seq 1 60); do
    if docker_answers; then
        log "Docker Engine answers: $(docker version --format '{{.Server.Version}}')"
        exit 0
    fi
    sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/dockerd-lab.log" >&2
exit 1
