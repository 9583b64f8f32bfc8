#!/bin/sh
# osbuilder modloader: load modules, mount the root disk, hand over to its init.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

fail() {
	echo "modloader: $*" >&2
	echo "modloader: dropping to a shell" >&2
	exec sh
}

root="" rootfstype="" rootflags="" ro="ro" init="/sbin/init" timeout=30
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	root=*) root="${arg#root=}" ;;
	rootfstype=*) rootfstype="${arg#rootfstype=}" ;;
	rootflags=*) rootflags="${arg#rootflags=}" ;;
	rootwait=*) timeout="${arg#rootwait=}" ;;
	init=*) init="${arg#init=}" ;;
	rw) ro="rw" ;;
	ro) ro="ro" ;;
	esac
done

for conf in /etc/modules-load.d/*.conf; do
	[ -f "$conf" ] || continue
	while read -r module args; do
		case "$module" in ''|'#'*) continue ;; esac
		modprobe "$module" $args || echo "modloader: modprobe $module failed" >&2
	done < "$conf"
done

[ -n "$root" ] || fail "no root= on the kernel command line"
case "$root" in
UUID=*|LABEL=*) dev="$(findfs "$root")" ;;
*) dev="$root" ;;
esac

# Devices appear asynchronously after the driver loads: wait for the node, with a deadline.
tries=$((timeout * 10))
while [ ! -b "$dev" ] && [ "$tries" -gt 0 ]; do
	sleep 0.1
	tries=$((tries - 1))
	case "$root" in UUID=*|LABEL=*) dev="$(findfs "$root" 2>/dev/null)" ;; esac
done
[ -b "$dev" ] || fail "root device $root did not appear within ${timeout}s"

opts="$ro"
[ -n "$rootflags" ] && opts="$opts,$rootflags"
if [ -n "$rootfstype" ]; then
	mount -t "$rootfstype" -o "$opts" "$dev" /newroot || fail "mount $dev ($rootfstype, $opts) failed"
else
	mount -o "$opts" "$dev" /newroot || fail "mount $dev ($opts) failed"
fi
[ -x "/newroot$init" ] || [ -L "/newroot$init" ] || fail "$init not found on $dev"

# The new init mounts its own /proc, /sys and /dev.
umount /dev 2>/dev/null
umount /sys
umount /proc
exec switch_root /newroot "$init"
