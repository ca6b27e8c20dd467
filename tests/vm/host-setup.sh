#!/usr/bin/env bash
# Host tools the VM lab needs (Debian/Ubuntu, as root): QEMU (TCG), qemu-img,
# tcpdump for the capture, debootstrap for the image. Acts only on what is missing.
set -euo pipefail
log() { printf '[vm-host-setup] %s\n' "$*" >&2; }

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
((${#need[@]})) || exit 0

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${need[*]}: install them (Debian/Ubuntu: apt-get install ${need[*]}) and run again"
    exit 1
fi
log "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
