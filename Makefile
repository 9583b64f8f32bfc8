# kata-swift: the two commands a newcomer needs are `make demo` and `make test`.
# CONFIG=debug is what tests and CI use (one build of the dependency stack); `make bench`
# builds release for its own figures.

SHELL := /bin/bash
CONFIG ?= debug
SWIFT_BUILD_DIR := .build/$(CONFIG)
# The agent as it ships: linked by SwiftPM, then without the unwind records of its Swift functions
# (tools/drop_swift_unwind.py: 3.9 MB of the release agent that nothing reads). `make agent` strips
# it; the VM tests, the hardening suite and the benchmarks run it unstripped.
TRIM_UNWIND = $(E2E_PYTHON) tools/drop_swift_unwind.py
AGENT_BIN := $(SWIFT_BUILD_DIR)/kata-agent.trimmed
OUT ?= out
# Release builds put every function (Swift, C and C++) in a section of its own, so the linker
# drops the ones nothing calls and lays out together those an agent start and its first RPCs
# run (Sources/kata-agent/link-order.txt, written by `make link-order`): after one Check about
# 5 MiB of .text is resident instead of 12 (the internal functions of the prebuilt runtime,
# stdlib and Foundation archives share one section per object and stay where they are; libc's
# objects are given sections of their own names, below).
# Package.swift has our modules reach concrete generic metadata through accessors instead of
# demangling names at run time (each demangled name's requirements cost conformance lookups,
# and an uncached one scans the binary's 7,800 conformance records); release builds give the
# dependencies (NIO, gRPC, swift-log...) the same flag: an agent start up to its first answered
# Check then runs 31% fewer instructions, and a minimal-initrd guest under TCG answered its
# first Check 14% sooner (median of 14 interleaved boots each).
LINK_ORDER := $(CURDIR)/Sources/kata-agent/link-order.txt
SWIFT_FLAGS_release := -Xswiftc -Xfrontend -Xswiftc -function-sections \
	-Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors \
	-Xcc -ffunction-sections -Xcxx -ffunction-sections \
	-Xlinker --section-ordering-file=$(LINK_ORDER)
SWIFT_FLAGS := $(SWIFT_FLAGS_$(CONFIG))
# libc.a compiles without -ffunction-sections (one `.text` per object), so release builds link
# kata-agent against a copy whose objects name their code sections after themselves
# (bench/libc_sections.py): the link order then clusters the C library's start-up code too, and
# the idle agent keeps about 850 KiB fewer of its pages resident.
LIBC_SECTIONED := $(CURDIR)/.build-release/libc-sections/libc.a
SWIFT_ENV_release := KATA_SECTIONED_LIBC=$(LIBC_SECTIONED)
SWIFT_ENV := $(SWIFT_ENV_$(CONFIG))
LINK_ORDER_STAMP := $(CURDIR)/.build-release/link-order.stamp
RELEASE_INPUTS_release := $(LIBC_SECTIONED) $(LINK_ORDER_STAMP)
RELEASE_INPUTS := $(RELEASE_INPUTS_$(CONFIG))

.PHONY: all deps build agent agent-ctl proto test test-swift bench demo clean help

all: build

help:
	@echo "make demo   install what is missing, build, boot a guest, run a container"
	@echo "make test   every test: unit, root integration and VM end-to-end"
	@echo "make agent  static stripped kata-agent in $(OUT)/"
	@echo "make proto  regenerate Sources/KataProtocols from protos/"
	@echo "make rootfs|initrd|image   build a guest with osbuilder (DISTRO=minimal|busybox|debian)"
	@echo "make bench  measure and write BENCHMARKS.md"
	@echo "make kernel-build   the guest kernel from Debian's linux-source (osbuilder/kernel/README.md)"

## ---- dependencies ---------------------------------------------------------------------
# Debian packages the build and the tests need; installed only when missing.
APT_PACKAGES := protobuf-compiler libseccomp-dev libcap-dev busybox-static runc cpio \
	e2fsprogs zstd file kmod iproute2 qemu-system-x86 python3-grpcio python3-grpc-tools \
	python3-pytest python3-pytest-xdist python3-protobuf binutils mmdebstrap debootstrap xfsprogs erofs-utils cryptsetup-bin \
	linux-source-6.1 build-essential bc bison flex libelf-dev xz-utils patch \
	golang-go golang-github-containerd-ttrpc-dev golang-google-protobuf-dev iptables

deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

## ---- build ------------------------------------------------------------------------------
build: deps $(RELEASE_INPUTS)
	$(SWIFT_ENV) swift build -c $(CONFIG) $(SWIFT_FLAGS) --build-tests

agent: deps $(RELEASE_INPUTS)
	$(SWIFT_ENV) swift build -c $(CONFIG) $(SWIFT_FLAGS) --product kata-agent
	$(TRIM_UNWIND) $(SWIFT_BUILD_DIR)/kata-agent --out $(AGENT_BIN)
	@mkdir -p $(OUT)
	strip -o $(OUT)/kata-agent $(AGENT_BIN)
	@file $(OUT)/kata-agent | grep -q 'statically linked' || { echo "kata-agent is not statically linked" >&2; exit 1; }
	@ls -l $(OUT)/kata-agent

agent-ctl: deps
	$(SWIFT_ENV) swift build -c $(CONFIG) $(SWIFT_FLAGS) --product kata-agent-ctl
	@mkdir -p $(OUT)
	strip -o $(OUT)/kata-agent-ctl $(SWIFT_BUILD_DIR)/kata-agent-ctl

## ---- protocol -----------------------------------------------------------------------------
PROTOC_PLUGIN_DIR := protos/generator/.build/debug
proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 1; }
	swift build --package-path protos/generator --product protoc-gen-swift
	swift build --package-path protos/generator --product protoc-gen-grpc-swift-2
	protos/generate.sh $(PROTOC_PLUGIN_DIR)

## ---- tests ----------------------------------------------------------------------------------
# Swift tests first (unit and root integration), then libFuzzer, hardening and the QEMU
# end-to-end suite. From a clean tree (a fresh CI machine) the guest kernel costs about 1,800 CPU
# seconds: it builds in the background under SCHED_IDLE from the start, on the CPU the Swift
# build and the unit, fuzz and hardening suites leave idle, and the VM tests wait for it (in a
# fresh-clone run here, 2026-12-08, they waited one minute; the work it shared the machine with
# ran slower meanwhile). A cached kernel is a no-op. Its log is $(KERNEL_BG_LOG), printed if it fails.
KERNEL_BG_LOG = $(OUT)/kernel-build.log
test: deps
	@mkdir -p $(OUT); \
	setsid chrt --idle 0 $(MAKE) --no-print-directory kernel-build >$(KERNEL_BG_LOG) 2>&1 & kernel=$$!; \
	trap 'kill -- -$$kernel 2>/dev/null' EXIT; \
	phase() { echo "make test: $$1 at $$((SECONDS / 60))m$$((SECONDS % 60))s"; }; \
	phase build && $(MAKE) build && \
	phase unit && $(MAKE) test-swift && \
	phase fuzz && $(MAKE) fuzz FUZZ_SECONDS=20 && \
	phase hardening && $(MAKE) hardening && \
	phase "waiting for the guest kernel" && \
	{ wait $$kernel || { cat $(KERNEL_BG_LOG); echo "make test: the guest kernel build failed" >&2; false; }; } && \
	phase e2e && $(MAKE) e2e && phase done

test-swift: build
	$(SWIFT_ENV) swift test -c $(CONFIG) $(SWIFT_FLAGS) --skip-build

## ---- VM: guest kernel, end-to-end tests, demo (Tests/e2e) -----------------------------------
# The guest kernel is Debian's cloud kernel, unpacked into .cache/kernel (never installed).
# The e2e tests and the demo run with Debian's python3 (its grpcio/protobuf), not a venv's.
E2E_PYTHON ?= /usr/bin/python3
E2E_BINS := kata-agent kata-agent-ctl osbuilder

.PHONY: kernel e2e-build e2e demo bench-boot kernel-build kernel-repro
kernel: deps
	@Tests/e2e/fetch-kernel.sh >/dev/null

# The guest kernel the VM tests boot (KATA_E2E_KERNEL=debian boots the one above instead): built
# from Debian's linux-source by osbuilder/kernel/build-kernel.sh, cached by its inputs.
KERNEL_CACHE ?= .cache/guest-kernel
kernel-build: deps
	osbuilder/kernel/build-kernel.sh $(KERNEL_FLAGS) cached $(KERNEL_CACHE)

# Opt-in (a second full build): rebuild in another directory, compare vmlinux and bzImage.
kernel-repro: kernel-build
	osbuilder/kernel/check-reproducible.sh $(KERNEL_CACHE)

e2e-build: deps $(RELEASE_INPUTS)
	@for p in $(E2E_BINS); do $(SWIFT_ENV) swift build -c $(CONFIG) $(SWIFT_FLAGS) --product $$p || exit 1; done
	@$(TRIM_UNWIND) $(SWIFT_BUILD_DIR)/kata-agent --out $(AGENT_BIN)

# PYTEST_ARGS narrows the run, e.g. make e2e PYTEST_ARGS="-k harness". A TCG guest keeps one
# core busy, so the tests run E2E_JOBS at a time (pytest-xdist), a module's tests on one worker
# (its module-scoped guests boot once); E2E_JOBS=1 runs them in one process, in file order.
E2E_JOBS ?= $(shell nproc)
E2E_PARALLEL = $(if $(filter-out 1,$(E2E_JOBS)),-n $(E2E_JOBS) --dist loadscope)
e2e: e2e-build kernel kernel-build
	KATA_AGENT_BIN=$(AGENT_BIN) KATA_AGENT_CTL_BIN=$(SWIFT_BUILD_DIR)/kata-agent-ctl \
	OSBUILDER_BIN=$(SWIFT_BUILD_DIR)/osbuilder $(E2E_PYTHON) -m pytest -v $(E2E_PARALLEL) Tests/e2e $(PYTEST_ARGS)

demo: e2e-build kernel kernel-build
	KATA_AGENT_BIN=$(AGENT_BIN) KATA_AGENT_CTL_BIN=$(SWIFT_BUILD_DIR)/kata-agent-ctl \
	OSBUILDER_BIN=$(SWIFT_BUILD_DIR)/osbuilder $(E2E_PYTHON) Tests/e2e/demo.py

# Boot timings (kernel start to agent ready, median of BOOT_RUNS) and agent RSS in the guest.
BOOT_RUNS ?= 5
bench-boot: e2e-build kernel kernel-build
	KATA_AGENT_BIN=$(AGENT_BIN) KATA_AGENT_CTL_BIN=$(SWIFT_BUILD_DIR)/kata-agent-ctl \
	OSBUILDER_BIN=$(SWIFT_BUILD_DIR)/osbuilder $(E2E_PYTHON) Tests/e2e/bench_boot.py --runs $(BOOT_RUNS) \
		--json $(OUT)/bench-boot.json

## ---- hardening: RPC fuzzing, soak, sanitizers, libFuzzer (Tests/hardening) ------------------
# `make test` runs the short versions (pytest Tests/hardening); the make targets below run the
# long ones and print the figures BENCHMARKS.md quotes.
.PHONY: hardening fuzz-rpc soak sanitize fuzz
HARDENING_ENV = KATA_AGENT_BIN=$(AGENT_BIN) KATA_AGENT_CTL_BIN=$(SWIFT_BUILD_DIR)/kata-agent-ctl
hardening: e2e-build
	$(HARDENING_ENV) $(E2E_PYTHON) -m pytest -v Tests/hardening $(PYTEST_ARGS)

# Structure-aware fuzzing of every RPC through the real server, both transports.
FUZZ_REQUESTS ?= 100000
fuzz-rpc: e2e-build
	$(HARDENING_ENV) $(E2E_PYTHON) Tests/hardening/rpcfuzz.py --requests $(FUZZ_REQUESTS) \
		--json $(OUT)/fuzz-rpc.json

# Soak: container and exec lifecycles, stdout readers killed mid-read; the agent's fds, threads,
# RSS, mounts, cgroups and /run entries must come back to their baseline after each phase.
SOAK_CYCLES ?= 1000
SOAK_EXECS ?= 1000
SOAK_CONCURRENCY ?= 64
soak: e2e-build
	$(HARDENING_ENV) $(E2E_PYTHON) Tests/hardening/soak.py --cycles $(SOAK_CYCLES) --execs $(SOAK_EXECS) \
		--concurrency $(SOAK_CONCURRENCY) --json $(OUT)/soak.json

# libFuzzer (Tests/Fuzz): each parser that sees untrusted bytes for FUZZ_SECONDS on a copy of the
# committed corpus, built in .build-fuzz; a crash fails and prints the input's path.
FUZZ_SECONDS ?= 30
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_OUT=$(OUT)/fuzz Tests/Fuzz/run.sh

# The non-root Swift tests under ThreadSanitizer (.build-tsan), then AddressSanitizer
# (.build-asan); as root they run as nobody. Not in `make test`: about 25 min of builds.
sanitize: deps
	Tests/Sanitizers/run.sh

## ---- osbuilder: rootfs / initrd / image (upstream variable names) --------------------------
# DISTRO picks a template in rootfs-templates/ (`make list-distros`); AGENT_SOURCE_BIN is the
# static agent (default: `make agent`'s output). Rootless; outputs are byte-identical for the
# same inputs and SOURCE_DATE_EPOCH (default: the last commit's time).
DISTRO ?= busybox
AGENT_SOURCE_BIN ?= $(OUT)/kata-agent
AGENT_INIT ?=
EXTRA_PKGS ?=
ROOTFS_DIR ?= $(OUT)/rootfs-$(DISTRO)
KERNEL_MODULES_DIR ?=
KERNEL_MODULES ?=
EXTRA_FILES ?=
ROOT_FREE_SPACE ?= 0
IMAGE_SIZE_ALIGNMENT_MB ?= 128
USE_DAX ?= yes
# ext4 | xfs | erofs; MEASURED_ROOTFS=yes adds a dm-verity hash partition and IMAGE.root_hash.txt.
FS_TYPE ?= ext4
MEASURED_ROOTFS ?= no
INITRD_COMPRESSION ?= gzip
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
INITRD ?= $(OUT)/kata-containers-initrd-$(DISTRO).img
IMAGE ?= $(OUT)/kata-containers-$(DISTRO).img
OSBUILDER := $(SWIFT_BUILD_DIR)/osbuilder
OSBUILDER_ROOTFS_ARGS = --template $(DISTRO) --agent $(AGENT_SOURCE_BIN) --source-date-epoch $(SOURCE_DATE_EPOCH) \
	$(if $(AGENT_INIT),--agent-init $(AGENT_INIT)) $(if $(EXTRA_PKGS),--extra-pkgs "$(EXTRA_PKGS)") \
	$(if $(KERNEL_MODULES_DIR),--kernel-modules-dir $(KERNEL_MODULES_DIR) --modules "$(KERNEL_MODULES)") \
	$(foreach f,$(EXTRA_FILES),--extra-file $(f))

.PHONY: osbuilder rootfs initrd image list-distros test-osbuilder-debian bench-osbuilder
osbuilder: deps
	$(SWIFT_ENV) swift build -c $(CONFIG) $(SWIFT_FLAGS) --product osbuilder

# A prebuilt AGENT_SOURCE_BIN skips building the agent (as upstream).
$(OUT)/kata-agent:
	$(MAKE) agent

rootfs: osbuilder $(AGENT_SOURCE_BIN)
	$(OSBUILDER) rootfs $(OSBUILDER_ROOTFS_ARGS) --rootfs-dir $(ROOTFS_DIR) --force

initrd: rootfs
	$(OSBUILDER) initrd --rootfs $(ROOTFS_DIR) --output $(INITRD) --compression $(INITRD_COMPRESSION) \
		--source-date-epoch $(SOURCE_DATE_EPOCH)
	$(OSBUILDER) check $(INITRD)

image: rootfs
	$(OSBUILDER) image --rootfs $(ROOTFS_DIR) --output $(IMAGE) --free-space $(ROOT_FREE_SPACE) \
		--alignment-mb $(IMAGE_SIZE_ALIGNMENT_MB) $(if $(filter no,$(USE_DAX)),--no-dax) \
		--fs-type $(FS_TYPE) $(if $(filter yes,$(MEASURED_ROOTFS)),--verity) \
		--source-date-epoch $(SOURCE_DATE_EPOCH)
	$(OSBUILDER) check $(IMAGE)

rootfs-% initrd-% image-%:
	$(MAKE) $(firstword $(subst -, ,$@)) DISTRO=$*

list-distros: osbuilder
	@$(OSBUILDER) list-templates

# The debian template bootstraps from the network (several minutes): not part of `make test`.
# Runs OSBuilderTests' debian test against the mirror in /etc/apt.
test-osbuilder-debian: osbuilder
	@command -v mmdebstrap >/dev/null || apt-get install -y -qq mmdebstrap >/dev/null
	OSBUILDER_TEST_DEBIAN=1 $(SWIFT_ENV) swift test -c $(CONFIG) $(SWIFT_FLAGS) --filter OSBuilderTests.DebianTemplateTests

# Sizes and build times of the minimal and busybox initrd/image next to `find | cpio | gzip -9`.
bench-osbuilder: osbuilder
	osbuilder/bench.sh $(OSBUILDER) $(OUT)/bench-osbuilder

## ---- benchmarks (bench/run.py writes BENCHMARKS.md, bench/results.json, bench/plots) ---------
# Release binaries in their own scratch directory, so a bench never rebuilds the test build.
BENCH_SCRATCH := .build-release
BENCH_BINS := kata-agent kata-agent-ctl osbuilder
BENCH_AGENT := $(BENCH_SCRATCH)/release/kata-agent.trimmed
.PHONY: bench-build
bench-build: deps $(LIBC_SECTIONED) $(LINK_ORDER_STAMP)
	@for p in $(BENCH_BINS); do $(SWIFT_ENV_release) swift build -c release $(SWIFT_FLAGS_release) --scratch-path $(BENCH_SCRATCH) --product $$p || exit 1; done
	@$(TRIM_UNWIND) $(BENCH_SCRATCH)/release/kata-agent --out $(BENCH_AGENT)

# SwiftPM does not see the copy: the agents linked with the old one are removed to be relinked.
$(LIBC_SECTIONED): bench/libc_sections.py $(shell cc -print-file-name=libc.a 2>/dev/null)
	$(E2E_PYTHON) bench/libc_sections.py --out $@
	rm -f $(BENCH_SCRATCH)/release/kata-agent .build/release/kata-agent

# Nor the link order: an agent linked before the order changed (a new link-order.txt from git
# or from `make link-order`) is removed so the next build relinks it in the new order.
$(LINK_ORDER_STAMP): $(LINK_ORDER)
	rm -f $(BENCH_SCRATCH)/release/kata-agent .build/release/kata-agent
	mkdir -p $(dir $@) && touch $@

# The link order from a release agent traced with uprobes (as root); commit the file it writes.
.PHONY: link-order
link-order: bench-build kernel-build
	$(E2E_PYTHON) bench/link_order.py --agent $(BENCH_AGENT) \
		--osbuilder $(BENCH_SCRATCH)/release/osbuilder --out $(LINK_ORDER)
	@$(MAKE) --no-print-directory bench-build

bench: bench-build kernel kernel-build
	$(E2E_PYTHON) bench/run.py $(if $(QUICK),--quick) --agent $(BENCH_AGENT) \
		--agent-ctl $(BENCH_SCRATCH)/release/kata-agent-ctl --osbuilder $(BENCH_SCRATCH)/release/osbuilder

clean:
	rm -rf .build $(BENCH_SCRATCH) $(OUT)
