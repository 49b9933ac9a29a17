#!/bin/bash
# Stock-kernel finding (docs/reliability.md): WITHOUT kview, toggling the
# kmem tracepoints (live patching of shared kernel text via text_poke_bp)
# while another vCPU runs a read loop hangs Debian's 6.1 under
# multi-threaded TCG; single-threaded TCG runs all 60 rounds.
#
#   tests/vm/run-guest.sh --variant 4l --timeout 300 -- tests/guest/stock-tcg-repro.sh              # hangs
#   tests/vm/run-guest.sh --variant 4l --tcg-single --timeout 300 -- tests/guest/stock-tcg-repro.sh # passes
t=/sys/kernel/tracing
mountpoint -q $t || mount -t tracefs nodev $t
if grep -q '^kview ' /proc/modules; then
	echo "stock-tcg-repro: kview is loaded; this must run without it" >&2
	exit 2
fi
(while :; do head -c 4096 /dev/zero >/dev/null; done) &
q=$!
for i in $(seq 1 60); do
	echo 1 >$t/events/kmem/enable
	echo 0 >$t/events/kmem/enable
	echo 1 >$t/events/kmem/kfree/enable
	echo 0 >$t/events/kmem/kfree/enable
	echo "stock-tcg-repro: round $i done" >/dev/console
done
kill $q
echo "stock-tcg-repro: all 60 rounds done"
