#!/usr/bin/env bash
# The long fuzzing run (host side): kview-fuzz for SECONDS (default 150) in
# each of the four CPU/paging variants, one boot each, with dmesg checked by
# the harness. 4 x 150 s = 10 minutes of fuzzing in total.
#
#   tests/host/fuzz-all.sh [SECONDS] [SEED]
set -uo pipefail
secs=${1:-150}
seed=${2:-$RANDOM}
repo=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 2
build=${KVIEW_BUILD_DIR:-build}
fail=0
for v in 5l 5l-pti 4l 4l-pti; do
	echo "fuzz-all: $v, seed $seed, $secs s"
	# shellcheck disable=SC2016  # expanded in the guest
	tests/vm/run-guest.sh --variant "$v" --quiet --timeout $((secs + 300)) --out "$build/vm-out/fuzz-$v" \
		--env KVIEW_BUILD_DIR="$build" --env FUZZ="$build/tests/kview-fuzz --seed $seed --seconds $secs" -- \
		'insmod "$KVIEW_BUILD_DIR/kmod/$(uname -r)/kview.ko" && { $FUZZ; rc=$?; rmmod kview || rc=1; exit $rc; }' || fail=1
	grep -h 'kview-fuzz' "$build/vm-out/fuzz-$v/cmd.log" | sed "s/^/  [$v] /"
done
((fail)) && echo "fuzz-all: FAILED" || echo "fuzz-all: all variants passed"
exit "$fail"
