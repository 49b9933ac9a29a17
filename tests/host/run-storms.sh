#!/usr/bin/env bash
# CTest entry guest.storms: the lifecycle and coherence storms
# (storm_lifecycle_test.cpp, storm_coherence_test.cpp) for SECONDS each,
# the Coherence tests (coherence_test.cpp) and the Patching tests
# (patching_test.cpp: a stock kprobe optimized over a hook, the traced
# process patching text itself), (default 30) in two variants (5-level +
# PTI, 4-level without PTI), one boot each, with a fresh seed per run
# (printed; replay with KVIEW_STORM_SEED).
#
# These boots use single-threaded TCG: patching shared kernel text
# (tracepoints, ftrace, kprobes) while another vCPU runs that code in a loop
# hangs stock 6.1 under multi-threaded TCG without kview loaded
# (docs/reliability.md, "Stock kernel findings").
#
#   tests/host/run-storms.sh BUILD_DIR [SECONDS] [SEED]
set -uo pipefail
build=${1:?usage: run-storms.sh BUILD_DIR [SECONDS] [SEED]}
secs=${2:-30}
seed=${3:-$((RANDOM * 32768 + RANDOM))}
repo=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 2
fail=0
for v in 5l-pti 4l; do
	echo "storms: $v, $secs s each, seed $seed"
	# shellcheck disable=SC2016  # expanded in the guest
	tests/vm/run-guest.sh --variant "$v" --tcg-single --quiet --timeout $((8 * secs + 600)) \
		--out "$build/vm-out/${KVIEW_KVER:+$KVIEW_KVER-}storms-$v" --env KVIEW_BUILD_DIR="$build" \
		--env KVIEW_STORM_SECONDS="$secs" --env KVIEW_STORM_SEED="$seed" -- \
		'mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
		 insmod "$KVIEW_BUILD_DIR/kmod/$(uname -r)/kview.ko" || exit 1
		 KVIEW_CLI=$KVIEW_BUILD_DIR/cli/kview tests/guest/watchdog.sh '"$((8 * secs + 240))"' \
			"$KVIEW_BUILD_DIR/tests/kview_guest_tests" \
			--gtest_filter="Storm.*:Patching.*:Coherence.*" --gtest_color=no; rc=$?
		 rmmod kview || rc=1
		 exit $rc' || fail=1
	grep -hE '^\[ (figures|storm)|^watchdog|FAILED|Failure' "$build/vm-out/${KVIEW_KVER:+$KVIEW_KVER-}storms-$v/cmd.log" | sed "s/^/  [$v] /"
done
((fail)) && echo "storms: FAILED" || echo "storms: passed in both variants"
exit "$fail"
