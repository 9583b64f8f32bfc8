#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz/<Target>, declared in Package.swift only when
# KATA_FUZZ is set) in their own scratch directory and runs each for FUZZ_SECONDS on a copy
# of the committed corpus. Exits non-zero when any target crashes, printing the crash input.
# Usage: Tests/Fuzz/run.sh [TARGET...]   (env: FUZZ_SECONDS, FUZZ_SCRATCH, FUZZ_OUT, FUZZ_JOBS)
set -uo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-30}
SCRATCH=${FUZZ_SCRATCH:-.build-fuzz}
OUT=${FUZZ_OUT:-out/fuzz}
TARGETS=("$@")
export SWIFT_BACKTRACE=enable=no  # libFuzzer prints the crash; Swift's backtracer would trip ASan
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(FuzzKernelCmdline FuzzConfigTOML FuzzSerialSplitter FuzzTTRPC FuzzMountOptions FuzzSeccomp FuzzCpio FuzzTemplate)
fi

build_start=$(date +%s)
for target in "${TARGETS[@]}"; do
    KATA_FUZZ=1 swift build -c debug --scratch-path "$SCRATCH" -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld \
        --product "$target" || { echo "fuzz: building $target failed" >&2; exit 1; }
done
echo "fuzz: built ${#TARGETS[@]} targets in $(( $(date +%s) - build_start )) s"

mkdir -p "$OUT"
# Each libFuzzer process is single-threaded: FUZZ_JOBS of them at a time (default: the CPUs).
JOBS=${FUZZ_JOBS:-$(nproc)}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: FUZZ_JOBS must be a positive integer, not '$JOBS'" >&2; exit 2; }

run_one() {
    local target=$1 work="$OUT/$1"
    rm -rf "$work" && mkdir -p "$work/corpus" "$work/crashes"
    cp Tests/Fuzz/corpus/"$target"/* "$work/corpus/"
    # Seeds first, then new inputs go to the copy; crashes, timeouts and leaks to crashes/.
    "$SCRATCH/debug/$target" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/crashes/" "$work/corpus" > "$work/log" 2>&1
    echo $? > "$work/status"
}

for target in "${TARGETS[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    run_one "$target" &
done
wait

failed=()
summary=()
for target in "${TARGETS[@]}"; do
    work="$OUT/$target"
    status=$(cat "$work/status" 2>/dev/null || echo "?")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
    summary+=("$(printf '%-20s %10s execs %8s/s  %s  corpus %s' "$target" "${execs:-?}" "${rate:-?}" "${cov:-}" \
        "$(ls "$work/corpus" | wc -l)")")
    crashes=$(ls "$work/crashes" 2>/dev/null)
    if [ "$status" != 0 ] || [ -n "$crashes" ]; then
        failed+=("$target")
        echo "fuzz: $target FAILED (exit $status); log: $work/log" >&2
        grep -E 'ERROR:|Fatal error|SUMMARY|Test unit written' "$work/log" | head -20 >&2
        # The input itself, so that a failure on a CI machine can be replayed from its log.
        for crash in $crashes; do
            echo "fuzz: crash input: $work/crashes/$crash; base64 (first 4 KiB):" >&2
            head -c 4096 "$work/crashes/$crash" | base64 -w 0 >&2
            echo >&2
        done
    fi
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
