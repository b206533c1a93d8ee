#!/bin/busybox sh
# AASEE guest stage 1: load the virtio drivers, mount the root disk, hand over to stage 2.
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
for m in $(cat /modules.order); do insmod "/modules/$m.ko" 2>/dev/null; done
root=/dev/vda
for arg in $(cat /proc/cmdline); do
  case "$arg" in aasee.root=*) root="${arg#aasee.root=}" ;; esac
done
i=0
while [ ! -b "$root" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
if ! mount -t ext4 -o rw "$root" /newroot; then
  echo "aasee-stage1: cannot mount root $root" >/dev/console
  poweroff -f
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/aasee-init
