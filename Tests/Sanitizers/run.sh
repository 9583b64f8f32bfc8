#!/usr/bin/env bash
# Builds the Swift test suite with ThreadSanitizer (.build-tsan) and then AddressSanitizer
# (.build-asan) and runs the tests that need no root. Only the test bundle is built: the static
# executables cannot link a sanitizer runtime. As root the bundle runs as `nobody`, where the
# root tests skip themselves (getuid() != 0), so this is exactly the non-root suite; tests that
# start kata-agent use KATA_AGENT_BIN (default: the normal .build/debug one, not sanitized), and
# TTRPCInteropTests need the Go client that a root `make test` caches in .build/ttrpc-interop.
# Usage: Tests/Sanitizers/run.sh [XCTEST-FILTER]   (env: SANITIZERS="thread address")
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SANITIZERS=${SANITIZERS:-thread address}
export KATA_AGENT_BIN=${KATA_AGENT_BIN:-$ROOT/.build/debug/kata-agent}
export KATA_AGENT_CTL_BIN=${KATA_AGENT_CTL_BIN:-$ROOT/.build/debug/kata-agent-ctl}
export SWIFT_BACKTRACE=enable=no  # the sanitizer prints the report; the backtracer would trip ASan

runner=()
if [ "$(id -u)" = 0 ]; then
    home=$(mktemp -d) && chown nobody: "$home" || exit 1
    trap 'rm -rf "$home"' EXIT
    runner=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$home")
    setpriv --reuid=nobody --regid=nogroup --clear-groups test -r Package.swift || {
        echo "sanitize: nobody cannot read $ROOT: run from a directory others can read" >&2
        exit 1
    }
fi

failed=()
for sanitizer in $SANITIZERS; do
    case $sanitizer in
        thread) scratch=.build-tsan ;;
        address) scratch=.build-asan ;;
        *) echo "sanitize: unknown sanitizer $sanitizer" >&2; exit 2 ;;
    esac
    start=$(date +%s)
    swift build --sanitize="$sanitizer" --scratch-path "$scratch" --product kata-swiftPackageTests ||
        { echo "sanitize: $sanitizer build failed" >&2; exit 1; }
    preload=()
    if [ "$sanitizer" = thread ]; then
        # Synchronization.Mutex's contended paths, made visible to TSan (see mutex_tsan.c).
        clang=$(dirname "$(readlink -f "$(command -v swift)")")/clang
        "$clang" -shared -fPIC -O1 -Wall -Werror -o "$scratch/libmutex_tsan.so" Tests/Sanitizers/mutex_tsan.c -ldl ||
            { echo "sanitize: building mutex_tsan.so failed" >&2; exit 1; }
        preload=(env LD_PRELOAD="$ROOT/$scratch/libmutex_tsan.so")
    fi
    built=$(date +%s)
    log=$scratch/sanitize-tests.log
    # Leaks are not checked: the Swift runtime's and XCTest's caches live until exit.
    TSAN_OPTIONS="halt_on_error=0 ${TSAN_OPTIONS:-}" ASAN_OPTIONS="detect_leaks=0 ${ASAN_OPTIONS:-}" \
        "${runner[@]}" "${preload[@]}" "$scratch/debug/kata-swiftPackageTests.xctest" "$@" > "$log" 2>&1
    status=$?
    end=$(date +%s)
    reports=$(grep -cE '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: AddressSanitizer)' "$log")
    echo "sanitize: $sanitizer: build $((built - start)) s, tests $((end - built)) s, exit $status, $reports report(s); log $log"
    grep -E 'Executed [0-9]+ tests' "$log" | tail -1
    if [ $status -ne 0 ] || [ "$reports" -gt 0 ]; then
        failed+=("$sanitizer")
        grep -E "^(WARNING: ThreadSanitizer|==[0-9]+==ERROR|SUMMARY)|error: .*: (XCTAssert|threw)| failed \(" "$log" | head -40 >&2
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "sanitize: failed under: ${failed[*]}" >&2
    exit 1
fi
