#!/bin/sh
# Stage 1 (initramfs /init): load the virtio/9p/overlay/SCSI modules, name and address the NICs
# from vmc.net, mount the host's / read-only over 9p with a tmpfs overlay on top, bind the
# harness's extracted kernel modules at /usr/lib/modules, give the new root fresh proc/sys/dev and
# switch_root into the stage-2 init named on the cmdline. Everything here runs from RAM with the
# static busybox, which under TCG is several times faster than host binaries read over 9p.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "vmc-init: $*" >/dev/console; exec sh </dev/console >/dev/console 2>&1; }
for m in $(cat /modules/load-order); do insmod "/modules/$m" || fail "insmod $m failed"; done
MODS=""; INIT=""; NET=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    vmc.modules=*) MODS="${arg#vmc.modules=}" ;;
    vmc.init=*) INIT="${arg#vmc.init=}" ;;
    vmc.net=*) NET="${arg#vmc.net=}" ;;
  esac
done
ip link set lo up
# vmc.net=name@mac@addr/prefix,... : rename the NIC with that MAC and give it the address.
for spec in $(echo "$NET" | tr ',' ' '); do
  ifname="${spec%%@*}"; rest="${spec#*@}"; mac="${rest%%@*}"; addr="${rest#*@}"
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address")" = "$mac" ] || continue
    cur="${d##*/}"
    [ "$cur" = "$ifname" ] || ip link set dev "$cur" name "$ifname" || fail "cannot rename $cur to $ifname"
    ip addr add "$addr" dev "$ifname" || fail "cannot address $ifname"
    ip link set dev "$ifname" up || fail "cannot bring $ifname up"
  done
done
[ -n "$MODS" ] && [ -n "$INIT" ] || fail "vmc.modules= and vmc.init= are required on the kernel cmdline"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /lower || fail "9p mount failed"
mount -t tmpfs -o mode=0755 tmpfs /upper || fail "tmpfs failed"
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || fail "overlay mount failed"
# Debian's /lib is a symlink to usr/lib and the host has no modules tree of its own.
mkdir -p /newroot/usr/lib/modules
mount --bind "/newroot$MODS" /newroot/usr/lib/modules || fail "bind of $MODS failed"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/sh "$INIT"
