#!/bin/sh
# Stage 2 guest init (PID 1 after switch_root; runs from the host's / shared read-only over 9p with a
# tmpfs overlay): mounts the usual pseudo file systems, keeps a root shell on the console (ttyS0) and
# runs the guest agent on the virtio-serial port named vmc.agent. Drivers and NIC addresses were set
# up by stage 1 (initramfs-init.sh). Nothing here touches the host's network.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t tmpfs -o mode=0755 tmpfs /run
# /tmp stays the overlay's own (already writable, host's files read-only below): a tmpfs here would
# hide a checkout that lives under the host's /tmp, as CI's fresh clones may, with the agent in it.
chmod 1777 /tmp
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
[ -e /proc/self/fd ] && ln -sf /proc/self/fd /dev/fd
mkdir -p /var/log/vmc /run/lock /var/lib/nfs
stamp() { echo "$(cut -d" " -f1 /proc/uptime) $*" >>/var/log/vmc/boot.log; }
stamp stage2

NAME=vm; AGENT=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    vmc.name=*) NAME="${arg#vmc.name=}" ;;
    vmc.agent=*) AGENT="${arg#vmc.agent=}" ;;
  esac
done
hostname "$NAME"
echo "$NAME" > /etc/hostname
echo "127.0.0.1 localhost $NAME" > /etc/hosts

# The agent first, so it starts while the rest is set up; it reports ready only once
# /run/vmc-ready exists.
PORT=""
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = "vmc.agent" ] && PORT="/dev/$(basename "$p")"
done
[ -n "$PORT" ] || echo "vmc: no vmc.agent virtio port" >/dev/ttyS0
stamp agent
( while true; do perl "$AGENT" "$PORT" >>/var/log/vmc/agent.log 2>&1; sleep 1; done ) &

# A root shell on the console for `cli.ts shell`; respawned when it exits.
( while true; do setsid -c /bin/bash -l </dev/ttyS0 >/dev/ttyS0 2>&1 || sleep 1; done ) &

stamp ready
touch /run/vmc-ready
echo "vmc: $NAME ready" >/dev/ttyS0
# PID 1 stays here: reap orphans now and then (dash only reaps its own children on wait).
while true; do wait; sleep 5; done
