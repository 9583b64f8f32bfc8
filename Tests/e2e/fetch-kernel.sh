#!/bin/bash
# Fetch Debian's cloud kernel into a build cache without installing it (installing a kernel
# package would change the host's boot configuration). Idempotent: a complete cache is reused.
#
# Usage: fetch-kernel.sh [CACHE_DIR]      (default: <repo>/.cache/kernel)
# Prints the kernel directory on stdout; it holds vmlinuz, lib/modules/<version>/ and VERSION.
# KERNEL_PACKAGE overrides the metapackage (default linux-image-cloud-amd64).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-${KATA_KERNEL_CACHE:-$repo/.cache/kernel}}
meta=${KERNEL_PACKAGE:-linux-image-cloud-amd64}

die() { echo "fetch-kernel: $*" >&2; exit 1; }
command -v apt-get >/dev/null || die "apt-get is required (Debian or Ubuntu host)"
command -v dpkg-deb >/dev/null || die "dpkg-deb is required"

# The metapackage depends on exactly one versioned image package: resolve it.
pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
    # A stale package list can miss the metapackage; refresh once (needs root).
    if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 || true; fi
    pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || die "cannot resolve $meta to a versioned linux-image package (apt-cache depends $meta)"

kver=${pkg#linux-image-}
dest="$cache/$kver"
if [ -f "$dest/.complete" ] && [ -f "$dest/vmlinuz" ] && [ -d "$dest/lib/modules/$kver" ]; then
    echo "$dest"
    exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fetch-kernel: downloading $pkg" >&2
# apt-get download writes into the current directory; the _apt sandbox user may lack access
# to it, which only produces a warning.
(cd "$work" && apt-get download -q "$pkg" >&2 2>&1) || die "apt-get download $pkg failed"
deb=$(ls "$work"/*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || die "apt-get download $pkg produced no .deb in $work"
mkdir -p "$work/root"
dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed"
[ -f "$work/root/boot/vmlinuz-$kver" ] || die "$deb has no boot/vmlinuz-$kver"
[ -d "$work/root/lib/modules/$kver" ] || die "$deb has no lib/modules/$kver"

# The package ships no modules.dep (depmod runs at install time): generate it in the cache.
depmod -b "$work/root" "$kver" || die "depmod -b $work/root $kver failed"

rm -rf "$dest"
mkdir -p "$dest/lib/modules"
mv "$work/root/boot/vmlinuz-$kver" "$dest/vmlinuz"
[ -f "$work/root/boot/config-$kver" ] && mv "$work/root/boot/config-$kver" "$dest/config"
mv "$work/root/lib/modules/$kver" "$dest/lib/modules/$kver"
echo "$kver" > "$dest/VERSION"
touch "$dest/.complete"
echo "$dest"
