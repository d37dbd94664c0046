#!/bin/sh
# Stage 1 (initramfs /init): load the virtio/9p/overlay/SCSI modules, name and address the NICs
# from vmc.net, mount the host's / read-only over 9p with a tmpfs overlay on top, bind the
# harness's extracted kernel modules at /usr/lib/modules, and set up the new root the way the
# tests expect it (proc, sys, dev, devpts, /dev/shm, a tmpfs /run, the host name, log dirs).
# Then switch_root into stage 2 (/run/vmc/init), which only starts the guest agent and the
# console shell. Everything here runs from RAM with the static busybox: under TCG every host
# binary run over 9p costs tens of milliseconds of loading and dynamic linking, and the set-up
# below used to run some twenty of them.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "vmc-init: $*" >/dev/console; exec sh </dev/console >/dev/console 2>&1; }
# Boot-time breakdown (guest uptime), written to the new root's /var/log/vmc/boot.log.
STAMPS=""
stamp() { read -r up _ </proc/uptime; STAMPS="$STAMPS$up $*
"; }
stamp stage1
for m in $(cat /modules/load-order); do insmod "/modules/$m" || fail "insmod $m failed"; done
stamp modules
MODS=""; NET=""; NAME=vm
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    vmc.modules=*) MODS="${arg#vmc.modules=}" ;;
    vmc.net=*) NET="${arg#vmc.net=}" ;;
    vmc.name=*) NAME="${arg#vmc.name=}" ;;
  esac
done
[ -n "$MODS" ] || fail "vmc.modules= is required on the kernel cmdline"
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
hostname "$NAME"
# The guest agent's virtio-serial port (by name, so the device order does not matter).
PORT=""
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = "vmc.agent" ] && PORT="/dev/${p##*/}"
done
[ -n "$PORT" ] || fail "no virtio-serial port named vmc.agent"
stamp net
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /lower || fail "9p mount failed"
mount -t tmpfs -o mode=0755 tmpfs /upper || fail "tmpfs failed"
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || fail "overlay mount failed"
R=/newroot
# Debian's /lib is a symlink to usr/lib and the host has no modules tree of its own.
mkdir -p $R/usr/lib/modules
mount --bind "$R$MODS" $R/usr/lib/modules || fail "bind of $MODS failed"
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
ln -sf /proc/self/fd $R/dev/fd
# /run is a tmpfs holding stage 2, the agent and busybox, so they run out of RAM.
mount -t tmpfs -o mode=0755 tmpfs $R/run || fail "tmpfs /run failed"
mkdir -p $R/run/vmc $R/run/lock
cp /bin/busybox /bin/vmc-agent /stage2.sh $R/run/vmc/ || fail "cannot copy stage 2 into /run/vmc"
# /tmp stays the overlay's own (already writable, host's files read-only below): a tmpfs here would
# hide a checkout that lives under the host's /tmp, as CI's fresh clones may, with the agent in it.
chmod 1777 $R/tmp
mkdir -p $R/var/log/vmc $R/var/lib/nfs
echo "$NAME" >$R/etc/hostname
echo "127.0.0.1 localhost $NAME" >$R/etc/hosts
stamp switch
printf '%s' "$STAMPS" >>$R/var/log/vmc/boot.log
umount /proc /sys
exec switch_root $R /run/vmc/busybox sh /run/vmc/stage2.sh "$PORT"
