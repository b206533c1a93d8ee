#!/bin/sh
# AASEE guest stage 2 (PID 1): mount the pseudo file systems, bring up the NIC and the agent
# port, then become the agent's supervisor. No systemd: a ready agent in a few seconds.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm /dev/virtio-ports
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
for m in virtio_console virtio_net virtio_rng; do modprobe -q "$m"; done
hostname -F /etc/hostname 2>/dev/null
ip link set lo up
ip link set eth0 up 2>/dev/null && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
i=0
while [ -z "$(ls /sys/class/virtio-ports 2>/dev/null)" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
for port in /sys/class/virtio-ports/*; do
  [ -e "$port/name" ] && ln -sf "/dev/${port##*/}" "/dev/virtio-ports/$(cat "$port/name")"
done
echo "aasee-guest: ready for agent" >/dev/console
exec /usr/bin/python3 -I /opt/aasee/agent.py --init
