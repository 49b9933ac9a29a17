#!/usr/bin/env bash
# Runs inside the QEMU guest (tests/vm/run-guest.sh), as root, cwd = repo:
# load the module, run the guest GoogleTest binary and the benchmark's smoke
# run, unload, show dmesg.
# run-guest.sh then scans dmesg for BUG/WARNING/Oops/RIP and bad taint.
set -uo pipefail
build=${KVIEW_BUILD_DIR:-build}
ko=${KVIEW_KO:-$build/kmod/$(uname -r)/kview.ko}
bin=$build/tests/kview_guest_tests
[[ -f $ko ]] || { echo "run-suite: $ko missing: run 'make module' first" >&2; exit 1; }
[[ -x $bin ]] || { echo "run-suite: $bin missing: run 'make userspace' first" >&2; exit 1; }
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
insmod "$ko" || exit 1
export KVIEW_KO=$ko KVIEW_CLI=$build/cli/kview

# Under 5-level paging KASLR sometimes places vmalloc/vmemmap/the direct map
# under the kernel image's top-level entry; kview then refuses every view
# (EOPNOTSUPP, docs/design.md section 5). That is a property of this boot, not
# a test result: say so and let tests/host/run-variant.sh boot again.
if ! "$KVIEW_CLI" trace -p $$ -k vfs_read -d 1ms >/dev/null 2>&1 &&
	dmesg | grep -q 'refusing view: 5-level KASLR layout'; then
	echo "KVIEW-KASLR-LAYOUT-REFUSED: this boot's KASLR layout is unsupported"
	rmmod kview
	exit 3
fi
# kview run's end-to-end tests (run_test.cpp: unmodified bpftrace, bcc and
# libbpf-tools under the supervisor) run in every boot, like the rest.
filter=${KVIEW_GTEST_FILTER:-}
"$bin" --gtest_color=no ${KVIEW_OUT:+--gtest_output=xml:$KVIEW_OUT/gtest.xml} ${filter:+--gtest_filter=$filter}
rc=$?
# The seeded ioctl fuzzer (tests/guest/fuzz.cpp): short here, long with
# tests/host/fuzz-all.sh. The seed is per variant, printed, reproducible.
if [[ -z ${KVIEW_GTEST_FILTER:-} ]]; then
	seed=${KVIEW_FUZZ_SEED:-$(printf '%s' "${KVIEW_VARIANT:-host}" | cksum | cut -d' ' -f1)}
	"$build/tests/kview-fuzz" --seed "$seed" --seconds "${KVIEW_FUZZ_SECONDS:-20}" ||
		{ echo "run-suite: kview-fuzz FAILED (seed $seed)"; rc=1; }
fi
# The benchmark harness, tiny (kview-bench run --smoke, bench/params.cpp): every configuration
# and workload runs; exits non-zero if the traced process missed an event or
# kview saw a handler entry from an untraced process. In the two extreme
# variants only (5-level + PTI, 4-level without PTI): it takes ~75 s.
if [[ -z ${KVIEW_GTEST_FILTER:-} && ${KVIEW_VARIANT:-} =~ ^(5l-pti|4l)$ ]]; then
	echo "run-suite: kview-bench --smoke"
	"$build/bench/kview-bench" run --smoke --out "${KVIEW_OUT:-/tmp}/bench-smoke" ||
		{ echo "run-suite: kview-bench --smoke FAILED"; rc=1; }
	grep -oE 'Mismatches: [^.]*|^[0-9]\. .*' "${KVIEW_OUT:-/tmp}/bench-smoke/results.md" 2>/dev/null | cut -c1-160
fi
rmmod kview || { echo "run-suite: rmmod failed after the tests (leak?)"; rc=1; }
dmesg | grep 'kview' | tail -n 20
exit $rc
