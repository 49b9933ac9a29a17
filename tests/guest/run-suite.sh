#!/usr/bin/env bash
# Runs inside the QEMU guest (tests/vm/run-guest.sh), as root, cwd = repo:
# load the module, run the guest GoogleTest binary, unload, show dmesg.
# run-guest.sh then scans dmesg for BUG/WARNING/Oops/RIP and bad taint.
set -uo pipefail
build=${KVIEW_BUILD_DIR:-build}
ko=${KVIEW_KO:-kmod/kview.ko}
bin=$build/tests/kview_guest_tests
[[ -f $ko ]] || { echo "run-suite: $ko missing: run 'make module' first" >&2; exit 1; }
[[ -x $bin ]] || { echo "run-suite: $bin missing: run 'make userspace' first" >&2; exit 1; }
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
insmod "$ko" || exit 1
export KVIEW_KO=$ko KVIEW_CLI=$build/cli/kview
"$bin" --gtest_color=no ${KVIEW_OUT:+--gtest_output=xml:$KVIEW_OUT/gtest.xml} ${KVIEW_GTEST_FILTER:+--gtest_filter=$KVIEW_GTEST_FILTER}
rc=$?
rmmod kview || { echo "run-suite: rmmod failed after the tests (leak?)"; rc=1; }
dmesg | grep 'kview' | tail -n 20
exit $rc
