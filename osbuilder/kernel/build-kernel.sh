#!/usr/bin/env bash
# Build Kata's guest kernel from Debian's linux-source-X.Y package: every driver a guest needs
# built in, no modules. Verbs and flags follow upstream's tools/packaging/kernel/build-kernel.sh;
# the configuration is data (configs/fragments/), merged over tinyconfig and checked.
#
# See osbuilder/kernel/README.md. `make kernel-build` runs `cached`.
set -o errexit -o nounset -o pipefail
# Run from a sub-make (make test -> make e2e -> here), the caller's MAKEFLAGS carry -w: the
# kernel's make would print "Entering directory" into output this script reads (the kernel
# release, so every installed path), and its jobserver would govern -j. The kernel build is
# its own top-level make.
unset MAKEFLAGS MFLAGS MAKELEVEL

script_name=$(basename "${BASH_SOURCE[0]}")
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)

readonly default_version="6.1"
readonly frag_dir="$script_dir/configs/fragments"
readonly config_version_file="$script_dir/kata_config_version"
patches_root="$script_dir/patches"
work_root="${KATA_KERNEL_WORKDIR:-$repo_root/.cache/kernel-build}"

arch_target="$(uname -m)"
kernel_version=""
kernel_path=""
force_config=false
gpu_vendor=""
debug_kernel=false
skip_config_checks=false

die() { echo "$script_name: $*" >&2; exit 1; }
info() { echo "$script_name: $*" >&2; }

usage() {
	cat <<EOF
Usage: $script_name [options] <command> [argument]

Build a Kata guest kernel from Debian's linux-source-X.Y (apt), with the fragments in
configs/fragments/ merged over tinyconfig and the patches in patches/<X.Y>/.

Commands:
  setup           unpack the source into the work tree, apply patches, generate and check .config
  build           build vmlinux and bzImage in the work tree
  install [DIR]   install vmlinux-<version>-<config version>, vmlinuz-..., config-... and the
                  vmlinux.container / vmlinuz.container links into DIR (default: out/kernel)
  cached DIR      setup -f, build and install into DIR/<input digest>/ unless already there;
                  prints that directory (what make kernel-build and the VM tests use)
  key             print the input digest (version, fragments, patches, this script, compiler)
  versions        print the kernel versions apt can provide

Options:
  -a ARCH   target architecture (only x86_64 for now)
  -d        debug: print every command
  -D        add the debug fragments (configs/fragments/debug/)
  -f        regenerate .config even if the work tree exists
  -g VENDOR add the GPU fragment (nvidia)
  -h        this help
  -k PATH   kernel work tree (default: .cache/kernel-build/linux-<version>-<config version>[-suffix])
  -p PATH   patches directory (default: osbuilder/kernel/patches)
  -s        skip the .config checks
  -v VER    kernel version: X.Y or X.Y.Z among those apt provides (default $default_version)

Environment: SOURCE_DATE_EPOCH (default: the source tarball's date) fixes the build
timestamp; KATA_KERNEL_WORKDIR moves the work directory; JOBS sets make -j (default: nproc).
EOF
	exit "${1:-0}"
}

# ---- version: what apt can provide ------------------------------------------------------
# Prints "series upstream-version debian-version package installed" per linux-source-X.Y.
available_sources() {
	local pkg series deb installed
	for pkg in $(apt-cache search --names-only '^linux-source-[0-9]+\.[0-9]+$' 2>/dev/null | awk '{print $1}' | sort -V); do
		series=${pkg#linux-source-}
		installed=no
		deb=$(dpkg-query -W -f='${Status} ${Version}\n' "$pkg" 2>/dev/null | awk '/^install ok installed/ {print $4}' || true)
		if [ -n "$deb" ]; then
			installed=yes
		else
			deb=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
		fi
		[ -n "$deb" ] && [ "$deb" != "(none)" ] || continue
		echo "$series ${deb%%-*} $deb $pkg $installed"
	done
}

# Sets series, full_version, deb_version, source_pkg from -v (X.Y or X.Y.Z).
resolve_version() {
	local want=${kernel_version:-$default_version} list line
	want=${want#v}
	[[ "$want" =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || die "-v $want: expected X.Y or X.Y.Z"
	list=$(available_sources)
	[ -n "$list" ] || die "apt knows no linux-source-X.Y package (run apt-get update)"
	line=$(awk -v w="$want" '$1 == w || $2 == w {print; exit}' <<<"$list")
	if [ -z "$line" ]; then
		die "kernel $want is not available from apt; available: $(awk '{printf "%s%s (%s)", sep, $2, $4; sep=", "}' <<<"$list")"
	fi
	read -r series full_version deb_version source_pkg source_installed <<<"$line"
}

# ---- packages ---------------------------------------------------------------------------
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} (apt-get install ${missing[*]})"
	info "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

build_deps() {
	# gcc/make (build-essential), bc, bison and flex (kconfig), libelf (objtool), zstd (the
	# compressed kernel), xz (the source tarball), patch, kmod (depmod for the install).
	ensure_packages build-essential bc bison flex libelf-dev xz-utils zstd patch kmod
}

# ---- inputs -----------------------------------------------------------------------------
config_version() {
	[ -f "$config_version_file" ] || die "missing $config_version_file"
	tr -d ' \n' <"$config_version_file"
}

suffix() {
	local s=""
	[ -n "$gpu_vendor" ] && s="-${gpu_vendor}-gpu"
	$debug_kernel && s="${s}-debug"
	echo "$s"
}

fragment_files() {
	local f
	for f in "$frag_dir"/common/*.conf "$frag_dir/$arch_target"/*.conf; do [ -f "$f" ] && echo "$f"; done
	[ -n "$gpu_vendor" ] && echo "$frag_dir/gpu/$gpu_vendor.conf"
	if $debug_kernel; then
		for f in "$frag_dir"/debug/*.conf; do [ -f "$f" ] && echo "$f"; done
	fi
	return 0
}

patch_files() {
	local dir="$patches_root/$series"
	[ -d "$dir" ] || return 0
	find "$dir" -maxdepth 1 -type f -name '*.patch' | LC_ALL=C sort
}

input_key() {
	{
		echo "source $source_pkg $deb_version arch $arch_target suffix $(suffix) config $(config_version)"
		echo "compiler $(gcc --version | head -n1) $(ld --version | head -n1)"
		sha256sum "$script_dir/$script_name"
		local f
		while read -r f; do echo "${f#"$script_dir"/}"; sha256sum <"$f"; done < <(fragment_files; patch_files)
	} | sha256sum | cut -c1-16
}

# ---- setup ------------------------------------------------------------------------------
# The tarball is unpacked once per package version into a pristine tree that nothing writes
# to; work trees are hard-link copies of it (seconds instead of a minute or two). Patches and
# builds replace files rather than writing into them, so the pristine tree stays pristine.
pristine_source() {
	local tarball="/usr/src/linux-source-$series.tar.xz" tmp
	pristine="$work_root/pristine-$source_pkg-$deb_version"
	[ -f "$pristine/.kata-complete" ] && return 0
	if [ "$source_installed" != yes ] || [ ! -f "$tarball" ]; then
		ensure_packages "$source_pkg"
	fi
	[ -f "$tarball" ] || die "$source_pkg is installed but $tarball is missing"
	mkdir -p "$work_root"
	rm -rf "$pristine"
	tmp=$(mktemp -d "$pristine.unpack.XXXXXX")
	info "unpacking $tarball"
	tar -xf "$tarball" -C "$tmp" --strip-components=1
	# The source's own date: the default build timestamp.
	stat -c %Y "$tmp/Makefile" >"$tmp/.kata-source-date-epoch"
	touch "$tmp/.kata-complete"
	mv "$tmp" "$pristine"
}

unpack_source() {
	local tmp
	pristine_source
	mkdir -p "$(dirname "$kernel_path")"
	tmp=$(mktemp -d "$kernel_path.unpack.XXXXXX")
	cp -al "$pristine/." "$tmp/"
	rm -f "$tmp/.kata-complete"
	apply_patches "$tmp"
	mv "$tmp" "$kernel_path"
}

# Applies patches/<X.Y>/*.patch in name order; a patch that does not apply stops the build.
apply_patches() {
	local tree=$1 p
	: >"$tree/.kata-patches"
	while read -r p; do
		[ -n "$p" ] || continue
		info "applying $(basename "$p")"
		if ! out=$(patch -d "$tree" -p1 --forward --batch --no-backup-if-mismatch <"$p" 2>&1); then
			rm -rf "$tree"
			die "patch $(basename "$p") does not apply to linux $full_version: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
		fi
		echo "$(basename "$p") $(sha256sum <"$p" | cut -c1-64)" >>"$tree/.kata-patches"
	done < <(patch_files)
}

patches_record() {
	local p
	while read -r p; do
		[ -n "$p" ] && echo "$(basename "$p") $(sha256sum <"$p" | cut -c1-64)"
	done < <(patch_files)
	return 0
}

setup_kernel() {
	if [ -d "$kernel_path" ]; then
		if [ "$(patches_record)" != "$(cat "$kernel_path/.kata-patches" 2>/dev/null)" ]; then
			die "$kernel_path was set up with other patches than $patches_root/$series; remove it"
		fi
		if ! $force_config && [ -f "$kernel_path/.config" ]; then
			info "$kernel_path exists (-f regenerates .config)"
			return 0
		fi
	else
		unpack_source
	fi
	generate_config
}

# Requested values, the last fragment's winning: "CONFIG_X=v<TAB>fragment" or "CONFIG_X=n<TAB>...".
requested_options() {
	local f line name value
	declare -A seen=() from=()
	while read -r f; do
		while IFS= read -r line; do
			if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
				name=${BASH_REMATCH[1]}; value=${BASH_REMATCH[2]}
			elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
				name=${BASH_REMATCH[1]}; value=n
			else
				continue
			fi
			local rel=${f#"$frag_dir"/}
			if [ -n "${seen[$name]:-}" ] && [ "${seen[$name]}" != "$value" ]; then
				# The optional fragments (gpu, debug) may override the base; the base may not
				# contradict itself.
				case "$rel" in
					gpu/* | debug/*) ;;
					*) die "$name is $value in $rel but ${seen[$name]} in ${from[$name]}" ;;
				esac
			fi
			seen[$name]=$value; from[$name]=$rel
		done <"$f"
	done < <(fragment_files)
	for name in "${!seen[@]}"; do printf '%s=%s\t%s\n' "$name" "${seen[$name]}" "${from[$name]}"; done | LC_ALL=C sort
}

generate_config() {
	local -a frags
	mapfile -t frags < <(fragment_files)
	[ ${#frags[@]} -gt 0 ] || die "no fragments in $frag_dir"
	local requested
	requested=$(requested_options)
	info "merging ${#frags[@]} fragments over tinyconfig"
	# tinyconfig is allnoconfig plus the kernel's tiny.config fragments: merge_config.sh -n
	# gives the same base with ours merged last.
	local base=("kernel/configs/tiny.config")
	[ -f "$kernel_path/arch/x86/configs/tiny.config" ] && base+=("arch/x86/configs/tiny.config")
	(cd "$kernel_path" && rm -f .config &&
		KCONFIG_CONFIG=.config ARCH=x86_64 scripts/kconfig/merge_config.sh -n "${base[@]}" "${frags[@]}" \
			>.kata-merge.log 2>&1) || die "merge_config.sh failed: see $kernel_path/.kata-merge.log"
	make -s -C "$kernel_path" ARCH=x86_64 olddefconfig >/dev/null
	$skip_config_checks && { info "skipping .config checks (-s)"; return 0; }
	local dropped=() line opt want rel got
	while IFS=$'\t' read -r line rel; do
		opt=${line%%=*}; want=${line#*=}
		got=$(grep -E "^$opt=" "$kernel_path/.config" | head -n1 | cut -d= -f2- || true)
		if [ "$want" = n ]; then
			[ -z "$got" ] || [ "$got" = n ] || dropped+=("$opt (asked not set in $rel, got $got)")
		elif [ "$got" != "$want" ]; then
			dropped+=("$opt (asked $want in $rel, got ${got:-not set})")
		fi
	done <<<"$requested"
	if [ ${#dropped[@]} -gt 0 ]; then
		die "the kernel dropped ${#dropped[@]} requested option(s) (unmet dependencies or unknown in $full_version): ${dropped[*]}"
	fi
	info "config checked: $(wc -l <<<"$requested") requested options are all in .config"
}

# ---- build ------------------------------------------------------------------------------
# Everything that would make two builds of the same inputs differ is pinned.
reproducible_env() {
	local epoch=${SOURCE_DATE_EPOCH:-}
	[ -n "$epoch" ] || epoch=$(cat "$kernel_path/.kata-source-date-epoch" 2>/dev/null || echo 0)
	export SOURCE_DATE_EPOCH=$epoch
	export KBUILD_BUILD_TIMESTAMP
	KBUILD_BUILD_TIMESTAMP=$(LC_ALL=C date -u -d "@$epoch" '+%a %b %e %H:%M:%S UTC %Y')
	export KBUILD_BUILD_USER=kata KBUILD_BUILD_HOST=kata-swift KBUILD_BUILD_VERSION=1
	export LC_ALL=C TZ=UTC
}

build_kernel() {
	[ -f "$kernel_path/.config" ] || die "$kernel_path has no .config: run $script_name setup"
	reproducible_env
	local jobs=${JOBS:-$(nproc)} start=$SECONDS clean=yes
	# Only a build from a clean tree is a build time; an incremental one is recorded as such.
	[ -f "$kernel_path/vmlinux" ] && clean=no
	echo "$clean" >"$kernel_path/.kata-build-clean"
	info "building linux $full_version in $kernel_path (make -j$jobs)"
	make -C "$kernel_path" -j"$jobs" ARCH=x86_64 vmlinux bzImage
	[ -f "$kernel_path/vmlinux" ] && [ -f "$kernel_path/arch/x86/boot/bzImage" ] ||
		die "make finished without vmlinux and arch/x86/boot/bzImage"
	echo $((SECONDS - start)) >"$kernel_path/.kata-build-seconds"
	# CPU seconds of make and the compilers: what the build costs on an idle machine, where
	# the wall time above also counts whatever else the cores were doing.
	# (`times` must run in this shell: a subshell starts with no children's times.)
	local cpu
	times >"$kernel_path/.kata-build-times"
	cpu=$(tail -n1 "$kernel_path/.kata-build-times" |
		awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%d", s }')
	echo "$cpu" >"$kernel_path/.kata-build-cpu-seconds"
	info "built in $((SECONDS - start)) s (${cpu} CPU seconds)"
}

# ---- install ----------------------------------------------------------------------------
install_kernel() {
	local dest=${1:-$repo_root/out/kernel}
	[ -f "$kernel_path/vmlinux" ] || die "$kernel_path has no vmlinux: run $script_name build"
	local cv sfx release vmlinux vmlinuz
	cv=$(config_version); sfx=$(suffix)
	release=$(make -s --no-print-directory -C "$kernel_path" ARCH=x86_64 kernelrelease)
	vmlinux="vmlinux-$full_version-$cv$sfx"
	vmlinuz="vmlinuz-$full_version-$cv$sfx"
	mkdir -p "$dest"
	install -m 0644 "$kernel_path/vmlinux" "$dest/$vmlinux"
	install -m 0644 "$kernel_path/arch/x86/boot/bzImage" "$dest/$vmlinuz"
	install -m 0644 "$kernel_path/.config" "$dest/config-$full_version-$cv$sfx"
	ln -sfn "$vmlinux" "$dest/vmlinux$sfx.container"
	ln -sfn "$vmlinuz" "$dest/vmlinuz$sfx.container"
	# No modules, but the module index a guest's agent reads to know what is built in
	# (osbuilder --kernel-modules-dir DIR/lib/modules/<release>).
	local mods="$dest/lib/modules/$release"
	rm -rf "$mods" && mkdir -p "$mods"
	install -m 0644 "$kernel_path/modules.builtin" "$kernel_path/modules.builtin.modinfo" "$mods/"
	: >"$mods/modules.order"
	depmod -b "$dest" "$release" 2>/dev/null || : >"$mods/modules.dep"
	{
		echo "KERNEL_VERSION=$full_version"
		echo "KERNEL_RELEASE=$release"
		echo "CONFIG_VERSION=$cv"
		echo "SOURCE_PACKAGE=$source_pkg=$deb_version"
		echo "BUILD_SECONDS=$(cat "$kernel_path/.kata-build-seconds" 2>/dev/null || echo unknown)"
		echo "BUILD_CPU_SECONDS=$(cat "$kernel_path/.kata-build-cpu-seconds" 2>/dev/null || echo unknown)"
		echo "BUILD_FROM_CLEAN_TREE=$(cat "$kernel_path/.kata-build-clean" 2>/dev/null || echo unknown)"
		echo "BUILD_JOBS=${JOBS:-$(nproc)}"
	} >"$dest/build-info"
	info "installed $vmlinux, $vmlinuz, config-$full_version-$cv$sfx into $dest"
}

cached_kernel() {
	local root=${1:-}
	[ -n "$root" ] || die "cached needs a directory"
	local key dest
	key=$(input_key)
	dest="$root/$key"
	if [ -f "$dest/.complete" ]; then echo "$dest"; return 0; fi
	mkdir -p "$root"
	exec 8>"$root/.lock"
	flock 8
	if [ -f "$dest/.complete" ]; then echo "$dest"; return 0; fi
	force_config=true
	# stdout is the cached directory alone (callers read it); the build's own output goes to stderr.
	{
		setup_kernel
		build_kernel
		rm -rf "$dest.tmp"
		install_kernel "$dest.tmp"
	} >&2
	echo "$key" >"$dest.tmp/.complete"
	rm -rf "$dest" && mv "$dest.tmp" "$dest"
	echo "$dest"
}

main() {
	local opt
	while getopts "a:dDfg:hk:p:sv:" opt; do
		case "$opt" in
			a) arch_target=$OPTARG ;;
			d) PS4='+ ${BASH_SOURCE[0]##*/}:${LINENO}: '; set -x ;;
			D) debug_kernel=true ;;
			f) force_config=true ;;
			g) gpu_vendor=$OPTARG ;;
			h) usage 0 ;;
			k) kernel_path=$OPTARG ;;
			p) patches_root=$(realpath "$OPTARG") ;;
			s) skip_config_checks=true ;;
			v) kernel_version=$OPTARG ;;
			*) usage 1 ;;
		esac
	done
	shift $((OPTIND - 1))
	local cmd=${1:-}
	[ -n "$cmd" ] || usage 1
	shift

	case "$arch_target" in
		x86_64 | amd64) arch_target=x86_64 ;;
		*) die "architecture $arch_target is not supported yet (only x86_64)" ;;
	esac
	case "$gpu_vendor" in
		"" | nvidia) ;;
		*) die "GPU vendor $gpu_vendor is not supported (only nvidia)" ;;
	esac
	[ -z "$gpu_vendor" ] || [ -f "$frag_dir/gpu/$gpu_vendor.conf" ] || die "missing $frag_dir/gpu/$gpu_vendor.conf"

	if [ "$cmd" = versions ]; then
		available_sources | awk '{print $2, "(" $4 "=" $3 (($5 == "yes") ? ", installed" : "") ")"}'
		return 0
	fi
	command -v apt-cache >/dev/null || die "apt-cache is required (Debian or Ubuntu host)"
	resolve_version
	[ -n "$kernel_path" ] || kernel_path="$work_root/linux-$full_version-$(config_version)$(suffix)"

	case "$cmd" in
		key) input_key ;;
		setup) build_deps; setup_kernel; echo "kernel source ready: $kernel_path" ;;
		build) build_deps; build_kernel ;;
		install) install_kernel "$@" ;;
		cached) build_deps; cached_kernel "$@" ;;
		*) usage 1 ;;
	esac
}

# One line, read whole before it runs: editing this file while a build runs cannot change it.
main "$@"; exit $?
