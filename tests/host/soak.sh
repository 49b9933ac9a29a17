#!/usr/bin/env bash
# The soak: SECONDS (default 1800) of mixed load in ONE guest boot, then
# leak accounting. Runs on the host: boots one guest that runs
# tests/guest/soak.sh (what the load is: its header).
#
#   tests/host/soak.sh [--variant V] [--mttcg] [SECONDS] [SEED]
#
# The guest runs single-threaded TCG (both vCPUs interleaved on one host
# thread) unless --mttcg: multi-threaded TCG runs stale kernel text after
# live patching (the fuzzer's SHARED_TEXT kprobes), which shows up as hook
# entries by untraced tasks through an int3 that is no longer in memory
# (docs/reliability.md, section 6).
set -uo pipefail
variant=4l tcg=--tcg-single
while [[ ${1:-} == --* ]]; do
	case $1 in
	--variant) variant=${2:?}; shift 2 ;;
	--mttcg) tcg=""; shift ;;
	*) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
secs=${1:-1800}
seed=${2:-$RANDOM}
repo=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 2
build=${KVIEW_BUILD_DIR:-build}
echo "soak: variant $variant${tcg:+ ($tcg)}, $secs s, seed $seed (output: $build/vm-out/soak-$variant)"
tests/vm/run-guest.sh --variant "$variant" $tcg --timeout $((secs + 900)) --quiet --append log_buf_len=16M \
	--out "$build/vm-out/soak-$variant" --env KVIEW_BUILD_DIR="$build" -- \
	tests/guest/soak.sh "$secs" "$seed"
rc=$?
grep -hE '^(soak|\[ figures|\[  (PASSED|FAILED))' "$build/vm-out/soak-$variant/cmd.log"
exit $rc
