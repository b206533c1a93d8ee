#!/bin/sh
# System start-up: pseudo file systems, network, local services, then the system supervisor.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm /dev/virtio-ports /run
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
hostname -F /etc/hostname 2>/dev/null
ip link set lo up
if ip link set eth0 up 2>/dev/null; then
  ip addr add 10.0.2.15/24 dev eth0
  ip route add default via 10.0.2.2
fi
i=0
# A container (libvirt sets $container) has no virtio ports; its host connects to a socket.
[ -n "$container" ] && i=100
while [ -z "$(ls /sys/class/virtio-ports 2>/dev/null)" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
for port in /sys/class/virtio-ports/*; do
  [ -e "$port/name" ] && ln -sf "/dev/${port##*/}" "/dev/virtio-ports/$(cat "$port/name")"
done
# Local services: a device's /etc/init.d/S* scripts one after the other; a Debian server's
# runlevel 2 links side by side (they wait for their disk reads, not for each other).
for service in /etc/init.d/S[0-9]*; do
  [ -x "$service" ] && "$service" start
done
started=""
for service in /etc/rc2.d/S[0-9]*; do
  [ -x "$service" ] || continue
  "$service" start </dev/null >/dev/null &
  started="$started $!"
done
# Only these: a bare `wait` would also wait for every daemon a device's script left behind.
[ -n "$started" ] && wait $started
echo "System ready." >/dev/console
exec @AGENT@ --init "$@"
