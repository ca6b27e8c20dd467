#!/usr/bin/env bash
# Build the VM lab's Debian disk image without any image registry:
# debootstrap a root of $VM_SUITE with the kernel, systemd, sshd, Python,
# nftables and docker.io (+ python3-docker, apparmor) baked in, then
# mkfs.ext4 -d it into a raw disk. The kernel and initrd are kept beside it for
# QEMU -kernel/-initrd. A fresh SSH key pair for root is generated with each build.
#
#   VM_SUITE=bookworm   Debian 12: kernel 6.1, docker.io 20.10 (client included)
#   VM_SUITE=trixie     Debian 13 (the default): kernel 6.12, docker.io 26.1 + docker-cli
#   VM_SUITE=forky      testing: kernel 7.x, docker.io 28.5 + docker-cli
#
# The result is cached in $VM_WORKDIR/image/<hash of the inputs, suite included>;
# "current" points at the last good build. Nothing is rebuilt while the inputs match.
#
#   tests/vm/build-image.sh          build (or reuse) the image, print its dir
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=${VM_SUITE:-trixie}
mirror=${VM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=${VM_WORKDIR:-/var/tmp/ironclad-swarm-vm}
disk_size=${VM_DISK_SIZE:-4G}
pkgs=linux-image-amd64,systemd-sysv,udev,dbus,kmod,procps,openssh-server,openssh-sftp-server,python3,python3-apt,iproute2,nftables,docker.io,python3-docker,apparmor,busybox-static,python3-prometheus-client
log() { printf '[vm-image] %s\n' "$*" >&2; }

script=''
case $suite in
    bookworm) release='Debian 12 (bookworm)' ;;
    # From Debian 13 on, docker.io only recommends docker-cli: without it the
    # daemon runs but there is no `docker` command (and debootstrap installs no
    # recommends).
    trixie) release='Debian 13 (trixie)'; pkgs+=,docker-cli ;;
    forky) release='Debian testing (forky)'; pkgs+=,docker-cli
           # Debian 12's debootstrap has no script for testing's codename: sid's fits.
           [[ -e /usr/share/debootstrap/scripts/forky ]] || script=/usr/share/debootstrap/scripts/sid ;;
    *) log "unknown VM_SUITE '$suite': use bookworm, trixie or forky"; exit 2 ;;
esac

# One build at a time: make test starts one in the background (tests/tooling/prefetch.sh), and
# the scenario's create step waits here for it, then finds the image made.
mkdir -p "$work"
exec 9>"$work/.build.lock"
flock 9

# The hash covers everything that shapes the image: suite, packages, mirror,
# disk size and this script itself (its customisation steps).
hash=$( (printf '%s %s %s %s\n' "$suite" "$pkgs" "$mirror" "$disk_size"; cat "$0") | sha256sum | cut -c1-16)
out=$work/image/$hash
if [[ -f $out/.complete ]]; then
    log "image $hash is up to date"
    ln -sfn "$hash" "$work/image/current"
    echo "$out"
    exit 0
fi

"$here/host-setup.sh"
start=$(date +%s)
root=$work/build/root
rm -rf "$work/build" "$out"
mkdir -p "$work/build" "$out"

log "debootstrap $release into $root (log: $work/build/debootstrap.log)"
# shellcheck disable=SC2086  # $script is empty or one path
debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$mirror" $script \
    >"$work/build/debootstrap.log" 2>&1 \
    || { tail -20 "$work/build/debootstrap.log" >&2; exit 1; }
log "debootstrap took $(($(date +%s) - start)) s"
for need in usr/lib/systemd/systemd-networkd usr/sbin/sshd usr/bin/docker usr/sbin/dockerd usr/sbin/nft; do
    [[ -e $root/$need ]] || { log "$release: /$need is missing from the root"; exit 1; }
done
if [[ $suite == forky ]]; then
    # LAB ONLY: the mirror's Release file for testing is past its Valid-Until
    # date, and apt (the firewall role falls back to it) would refuse the index.
    # Never put this on a real host: it disables apt's protection against a
    # mirror replaying stale (vulnerable) package lists.
    printf 'Acquire::Check-Valid-Until "false";\n' >"$root/etc/apt/apt.conf.d/99ironclad-lab-valid-until"
fi

# Per-VM settings come from the kernel command line, so one image serves every VM:
#   systemd.hostname=vmN                    (systemd reads it itself)
#   ironclad.lab_addr=192.0.2.11/24         the lab-segment address of eth1
cat >"$root/usr/local/sbin/ironclad-lab-net" <<'SCRIPT'
#!/bin/sh
# Write the systemd-networkd file for eth1 from ironclad.lab_addr= on the kernel command line.
set -eu
addr=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^ironclad\.lab_addr=//p')
[ -n "$addr" ] || exit 0
mkdir -p /run/systemd/network
printf '[Match]\nName=eth1\n\n[Network]\nAddress=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' "$addr" \
    >/run/systemd/network/20-eth1.network
SCRIPT
chmod 0755 "$root/usr/local/sbin/ironclad-lab-net"
cat >"$root/etc/systemd/system/ironclad-lab-net.service" <<'UNIT'
[Unit]
Description=Lab-segment address from the kernel command line
DefaultDependencies=no
Before=systemd-networkd.service
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ironclad-lab-net

[Install]
WantedBy=systemd-networkd.service
UNIT
# eth0: QEMU user networking (SSH port forward only; restrict=on keeps the guest off everything else).
printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
    >"$root/etc/systemd/network/10-eth0.network"
echo vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$root/etc/fstab"
# Empty machine-id: each VM makes its own on first boot.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
chroot "$root" systemctl enable systemd-networkd.service ironclad-lab-net.service >/dev/null 2>&1
chroot "$root" systemctl disable apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true

# SSH: root by key only, a key pair made for this build.
ssh-keygen -q -t ed25519 -N '' -C "ironclad-swarm-vm-$hash" -f "$out/id_ed25519"
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$out/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
    >"$root/etc/ssh/sshd_config.d/ironclad-lab.conf"

# The probe image's root (busybox + one page), imported into Docker by the tests:
#   docker import --change 'CMD ["/bin/sh"]' /opt/ironclad/probe-rootfs.tar ironclad-swarm-lab/probe:1
probe=$work/build/probe
mkdir -p "$probe/bin" "$probe/www" "$probe/tmp" "$root/opt/ironclad"
cp "$root/bin/busybox" "$probe/bin/busybox"
for app in $(chroot "$root" /bin/busybox --list); do
    [[ $app == busybox ]] || ln -s busybox "$probe/bin/$app"
done
echo ironclad-probe >"$probe/www/index.html"
tar -C "$probe" -cf "$root/opt/ironclad/probe-rootfs.tar" .

kernels=("$root"/boot/vmlinuz-*)
initrds=("$root"/boot/initrd.img-*)
if [[ ${#kernels[@]} -ne 1 || ! -e ${kernels[0]} || ${#initrds[@]} -ne 1 || ! -e ${initrds[0]} ]]; then
    log "expected one kernel and one initrd in $root/boot, found: ${kernels[*]} ${initrds[*]}"
    exit 1
fi
cp "${kernels[0]}" "$out/vmlinuz"
cp "${initrds[0]}" "$out/initrd.img"
chmod 0644 "$out/vmlinuz" "$out/initrd.img"
# shellcheck disable=SC2016  # ${Version} is dpkg-query's, not the shell's
printf 'suite=%s\nkernel=%s\ndocker=%s\n' "$suite" "${kernels[0]##*/vmlinuz-}" \
    "$(chroot "$root" dpkg-query -W -f '${Version}' docker.io)" >"$out/versions"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*_Packages

log "mkfs.ext4 -d (disk $disk_size)"
truncate -s "$disk_size" "$out/disk.img"
mkfs.ext4 -q -F -L ironclad-root -d "$root" "$out/disk.img"
rm -rf "$work/build"
touch "$out/.complete"
ln -sfn "$hash" "$work/image/current"
log "image $hash ($release, $(tr '\n' ' ' <"$out/versions")) built in $(($(date +%s) - start)) s"
echo "$out"
