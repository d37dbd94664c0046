#!/bin/sh
# Stage 2 guest init: PID 1 after switch_root, run by the static busybox from /run/vmc (RAM) with
# $1 = the guest agent's virtio-serial port. Stage 1 (initramfs-init.sh) did all the set-up; this
# only keeps the guest agent and a root shell on the console (ttyS0) running, says ready, and reaps
# orphans. Nothing here touches the host's network.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
BB=/run/vmc/busybox
stamp() { read -r up _ </proc/uptime; echo "$up $*" >>/var/log/vmc/boot.log; }
stamp stage2

# The agent answers pings at once but reports ready only once /run/vmc-ready exists.
( while true; do /run/vmc/vmc-agent "$1" >>/var/log/vmc/agent.log 2>&1; $BB sleep 1; done ) &
stamp ready
touch /run/vmc-ready

# A root shell on the console for `cli.ts shell`; respawned when it exits.
( while true; do $BB setsid -c /bin/bash -l </dev/ttyS0 >/dev/ttyS0 2>&1 || $BB sleep 1; done ) &
echo "vmc: $(hostname) ready" >/dev/ttyS0
# PID 1 stays here: reap orphans now and then.
while true; do wait; $BB sleep 5; done
