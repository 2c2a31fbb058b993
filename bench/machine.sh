#!/bin/sh
# machine.sh - what `make bench` ran on, as KEY=VALUE lines: the CPU
# model, its cores, the kernel, and the kind of disk and file system that
# hold the temporary directory (where every Maildir of the bench is).
dir=${TMPDIR:-/tmp}
[ "$(id -u)" -eq 0 ] && dir=/tmp
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "cpu=${cpu:-unknown}"
echo "cores=$(nproc)"
echo "kernel=$(uname -sr)"
source=$(df --output=source "$dir" | tail -n 1)
fstype=$(df --output=fstype "$dir" | tail -n 1)
disk=$(lsblk -no PKNAME "$source" 2>/dev/null | head -n 1)
[ -n "$disk" ] || disk=$(basename "$source")
rotational=$(cat "/sys/block/$disk/queue/rotational" 2>/dev/null)
case $disk:$rotational in
vd*) kind="virtio block device (a virtual machine's disk)" ;;
nvme*) kind="NVMe SSD" ;;
*:1) kind="rotating disk" ;;
*:0) kind="SSD" ;;
*) kind="unknown" ;;
esac
echo "disk=$kind, $fstype"
