#!/usr/bin/env bash
# Build the VM lab's Debian 12 disk image without any image registry:
# debootstrap a root with the kernel, systemd, sshd, Python, nftables and
# docker.io (+ python3-docker, apparmor) baked in, then mkfs.ext4 -d it into a
# raw disk. The kernel and initrd are kept beside it for QEMU -kernel/-initrd.
# A fresh SSH key pair for root is generated with each build.
#
# The result is cached in $VM_WORKDIR/image/<hash of the inputs>; "current"
# points at the last good build. Nothing is rebuilt while the inputs match.
#
#   tests/vm/build-image.sh          build (or reuse) the image, print its dir
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mirror=${VM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=${VM_WORKDIR:-/var/tmp/ironclad-swarm-vm}
disk_size=${VM_DISK_SIZE:-4G}
pkgs=linux-image-amd64,systemd-sysv,udev,dbus,kmod,procps,openssh-server,python3,python3-apt,iproute2,nftables,docker.io,python3-docker,apparmor,busybox-static
log() { printf '[vm-image] %s\n' "$*" >&2; }

# The hash covers everything that shapes the image: packages, mirror, disk
# size and this script itself (its customisation steps).
hash=$( (printf '%s %s %s\n' "$pkgs" "$mirror" "$disk_size"; cat "$0") | sha256sum | cut -c1-16)
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

log "debootstrap Debian 12 (bookworm) into $root (log: $work/build/debootstrap.log)"
debootstrap --variant=minbase --include="$pkgs" bookworm "$root" "$mirror" >"$work/build/debootstrap.log" 2>&1 \
    || { tail -20 "$work/build/debootstrap.log" >&2; exit 1; }
log "debootstrap took $(($(date +%s) - start)) s"

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

cp "$root"/boot/vmlinuz-* "$out/vmlinuz"
cp "$root"/boot/initrd.img-* "$out/initrd.img"
chmod 0644 "$out/vmlinuz" "$out/initrd.img"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*_Packages

log "mkfs.ext4 -d (disk $disk_size)"
truncate -s "$disk_size" "$out/disk.img"
mkfs.ext4 -q -F -L ironclad-root -d "$root" "$out/disk.img"
rm -rf "$work/build"
touch "$out/.complete"
ln -sfn "$hash" "$work/image/current"
log "image $hash built in $(($(date +%s) - start)) s"
echo "$out"
