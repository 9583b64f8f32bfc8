#!/usr/bin/env bash
# make kernel-repro: build the guest kernel a second time, from a fresh unpack of the source
# in another directory, and compare vmlinux, bzImage and .config bit for bit with the cached
# build. Opt-in (a second full build, several minutes on 2 cores); `make test` keeps the cheap
# checks (Tests/e2e/test_kernel_build.py).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-$repo/.cache/guest-kernel}
shift || true

first=$("$here/build-kernel.sh" "$@" cached "$cache")
second_root=$(mktemp -d "$repo/.cache/kernel-repro.XXXXXX")
trap 'rm -rf "$second_root"' EXIT
start=$SECONDS
second=$(KATA_KERNEL_WORKDIR="$second_root/work" "$here/build-kernel.sh" "$@" cached "$second_root/install")
echo "second build: $((SECONDS - start)) s in $second_root/work"

status=0
for link in vmlinux.container vmlinuz.container; do
	a=$(readlink -f "$first/$link"); b=$(readlink -f "$second/$link")
	if cmp -s "$a" "$b"; then
		echo "same: $(basename "$a") $(sha256sum <"$a" | cut -c1-16) ($(stat -c %s "$a") bytes)"
	else
		echo "DIFFERENT: $(basename "$a"): $(sha256sum <"$a" | cut -c1-16) vs $(sha256sum <"$b" | cut -c1-16)"
		status=1
	fi
done
for f in "$first"/config-*; do
	cmp -s "$f" "$second/$(basename "$f")" && echo "same: $(basename "$f")" ||
		{ echo "DIFFERENT: $(basename "$f")"; status=1; }
done
# Work trees are hard-link copies of the pristine source: no build may have written into it.
for pristine in "$repo/.cache/kernel-build"/pristine-*; do
	[ -f "$pristine/.kata-complete" ] || continue
	changed=$(find "$pristine" -type f -newer "$pristine/.kata-complete" | head -n 5)
	[ -z "$changed" ] || { echo "pristine source $pristine was written to: $changed"; status=1; }
done
[ $status = 0 ] && echo "reproducible: two builds in different directories are identical"
exit $status
