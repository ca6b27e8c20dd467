#!/usr/bin/env bash
# Start, in the background, the image builds the later stages of `make test` need:
# the container lab's images for each suite given and the VM lab's disk image.
# They are mostly downloads and unpacking, so they overlap well with lint, sanity
# and the unit tests. Each build script holds a lock, so a stage that needs an
# image simply waits for the background build and then finds it made.
#
#   tests/tooling/prefetch.sh LOGDIR VM_SUITE LAB_SUITE...
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
logdir=$1 vm_suite=$2
shift 2
mkdir -p "$logdir"
# Host packages first and in the foreground: two apt-get runs cannot share dpkg's lock.
"$here/lab/host-setup.sh"
"$here/vm/host-setup.sh"
timed() {  # timed NAME CMD...: run CMD, append "NAME SECONDS RC" to LOGDIR/prefetch.times
    local name=$1 start rc=0
    shift
    start=$(date +%s)
    "$@" >"$logdir/prefetch-$name.log" 2>&1 || rc=$?
    echo "$name $(($(date +%s) - start)) $rc" >>"$logdir/prefetch.times"
}
: >"$logdir/prefetch.times"
# Both at once: the VM scenario and the first container scenario start together after the unit tests.
( timed lab-images "$here/lab/build-images.sh" "$@" ) </dev/null >/dev/null 2>&1 &
lab_pid=$!
( VM_SUITE=$vm_suite timed vm-image "$here/vm/build-image.sh" ) </dev/null >/dev/null 2>&1 &
echo "[prefetch] building images in the background (pids $lab_pid $!; logs: $logdir/prefetch-*.log)"
