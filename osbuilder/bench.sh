#!/usr/bin/env bash
# Sizes and build times of the minimal and busybox initrds and images, next to upstream's
# packing pipeline (`find . | cpio -H newc -o | gzip -9`) on the same staged tree.
# Usage: osbuilder/bench.sh OSBUILDER_BIN [WORKDIR] [AGENT]
# AGENT defaults to out/kata-agent when present, else .build/debug/kata-agent stripped, else
# /bin/busybox (a static stand-in). Prints a Markdown table on stdout.
set -euo pipefail
osb=${1:?usage: bench.sh OSBUILDER_BIN [WORKDIR] [AGENT]}
work=${2:-out/bench-osbuilder}
repo=$(cd "$(dirname "$0")/.." && pwd)
agent=${3:-}
if [ -z "$agent" ]; then
    if [ -x "$repo/out/kata-agent" ]; then agent="$repo/out/kata-agent"
    elif [ -x "$repo/.build/debug/kata-agent" ]; then
        mkdir -p "$work"; strip -o "$work/kata-agent" "$repo/.build/debug/kata-agent"; agent="$work/kata-agent"
    else agent=/bin/busybox; fi
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
mkdir -p "$work"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

echo "agent: $agent ($(mib "$(size "$agent")") MiB), SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, $(nproc) cores" >&2
printf '| template | rootfs | initrd (gzip) | osbuilder initrd time | find\\|cpio\\|gzip -9 time (size) | image (128 MiB align, DAX) | image (align 1, no DAX) | image time |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for t in minimal busybox; do
    rootfs="$work/rootfs-$t"
    "$osb" rootfs -q --templates "$repo/rootfs-templates" -t "$t" --agent "$agent" --rootfs-dir "$rootfs" --force
    rootfs_kb=$(du -sk "$rootfs" | cut -f1)
    a=$(now); "$osb" initrd -q --rootfs "$rootfs" -o "$work/$t.initrd"; b=$(now)
    initrd_t=$(secs "$a" "$b")
    a=$(now); (cd "$rootfs" && find . | cpio --quiet -H newc -o | gzip -9) > "$work/$t.upstream.initrd"; b=$(now)
    up_t=$(secs "$a" "$b")
    a=$(now); "$osb" image -q --rootfs "$rootfs" -o "$work/$t.img"; b=$(now)
    image_t=$(secs "$a" "$b")
    "$osb" image -q --rootfs "$rootfs" -o "$work/$t.small.img" --alignment-mb 1 --no-dax
    printf '| %s | %s MiB | %s MiB | %s s | %s s (%s MiB) | %s MiB | %s MiB | %s s |\n' "$t" "$(mib $((rootfs_kb * 1024)))" \
        "$(mib "$(size "$work/$t.initrd")")" "$initrd_t" "$up_t" "$(mib "$(size "$work/$t.upstream.initrd")")" \
        "$(mib "$(size "$work/$t.img")")" "$(mib "$(size "$work/$t.small.img")")" "$image_t"
done

# Root filesystem types and dm-verity on the same trees: smallest images (--alignment-mb 1
# --no-dax; xfs cannot go under mkfs.xfs 6.1's 300 MB), allocated bytes, build time.
echo
printf '| template | image | size | allocated | build time |\n'
printf '|---|---|---|---|---|\n'
for t in minimal busybox; do
    rootfs="$work/rootfs-$t"
    for v in "ext4" "xfs" "erofs" "erofs lz4hc" "ext4 verity" "erofs verity"; do
        set -- $v
        args=(--fs-type "$1")
        [ "${2:-}" = lz4hc ] && args+=(--erofs-compression lz4hc)
        [ "${2:-}" = verity ] && args+=(--verity)
        out="$work/$t.fmt-${v// /-}.img"
        a=$(now); "$osb" image -q --rootfs "$rootfs" -o "$out" --alignment-mb 1 --no-dax "${args[@]}" >/dev/null; b=$(now)
        printf '| %s | %s | %s MiB | %s MiB | %s s |\n' "$t" "$v" "$(mib "$(size "$out")")" \
            "$(mib $(( $(stat -c %b "$out") * 512 )))" "$(secs "$a" "$b")"
    done
done
