#!/bin/busybox sh
# Stage 1: load the drivers, mount the root disk, hand over to the root's own init.
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
for m in $(cat /modules.order); do insmod "/modules/$m.ko" || echo "stage1: cannot load $m" >/dev/console; done
root=/dev/vda
init=@STAGE2@
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    root=/dev/*) root="${arg#root=}" ;;
  esac
done
i=0
while [ ! -b "$root" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
if ! mount -t ext4 -o rw,noatime "$root" /newroot; then
  echo "stage1: cannot mount the root file system $root" >/dev/console
  poweroff -f
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot "$init"
