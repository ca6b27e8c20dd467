#!/usr/bin/env bash
# Prepare this machine to run the ironclad.swarm lab and tests:
# a Docker Engine answering on /var/run/docker.sock and the host tools the
# lab image build needs. Safe to run again: it only acts on what is missing.
set -euo pipefail

log() { printf '[host-setup] %s\n' "$*"; }

need_pkgs=()
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v rsync >/dev/null 2>&1 || need_pkgs+=(rsync)
command -v shellcheck >/dev/null 2>&1 || need_pkgs+=(shellcheck)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)

if ((${#need_pkgs[@]})); then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        log "missing ${need_pkgs[*]}: install them (Debian/Ubuntu: apt-get install ${need_pkgs[*]}) and run again" >&2
        exit 1
    fi
    log "installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
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
