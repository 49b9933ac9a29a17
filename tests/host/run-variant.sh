#!/usr/bin/env bash
# CTest entry for one CPU/paging variant: boot the guest and run the suite
# (run-suite.sh). A boot whose random 5-level KASLR layout kview must refuse
# (run-suite.sh prints KVIEW-KASLR-LAYOUT-REFUSED) is booted again, up to
# 4 times; every such boot is reported.
# KVIEW_KVER (tests/vm/kver.sh: a version, or 6.1 / 6.12 / 6.12-rt) picks the
# kernel; its results go to BUILD_DIR/vm-out/<KVIEW_KVER>-<variant>.
set -uo pipefail
variant=${1:?usage: run-variant.sh VARIANT BUILD_DIR}
build=${2:?usage: run-variant.sh VARIANT BUILD_DIR}
repo=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 2
out=$build/vm-out/${KVIEW_KVER:+$KVIEW_KVER-}$variant
for attempt in 1 2 3 4; do
	tests/vm/run-guest.sh --variant "$variant" --quiet --timeout 2400 --out "$out" \
		--env KVIEW_BUILD_DIR="$build" -- tests/guest/run-suite.sh
	rc=$?
	if ((rc != 0)) && grep -q KVIEW-KASLR-LAYOUT-REFUSED "$out/cmd.log" 2>/dev/null; then
		echo "guest $variant: boot $attempt drew a KASLR layout kview refuses; booting again"
		continue
	fi
	exit "$rc"
done
echo "guest $variant: 4 boots in a row drew an unsupported KASLR layout"
exit 1
