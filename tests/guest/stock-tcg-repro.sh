#!/bin/bash
# Stock-kernel findings (docs/reliability.md, "Stock kernel findings"):
# WITHOUT kview, live patching of shared kernel text while the vCPUs run it
# breaks Debian's kernels under multi-threaded TCG; single-threaded TCG runs
# every round.
#
#   tracepoints (default): toggle the kmem tracepoints (text_poke_bp) while a
#     read loop runs: hangs 6.1 (--mttcg) after a few of 60 rounds.
#   kprobes: add, enable, disable and remove stock kprobes on schedule and
#     vfs_read while both vCPUs read in a loop: 6.12 dies on "Oops: int3"
#     (at an address whose int3 is no longer in memory) within 50 rounds.
#   ftrace-kprobes: the same with kprobes at function entry (offset 0: the
#     kprobe core uses ftrace, a trampoline is made and freed per round), as
#     a tool's `kprobe:vfs_read` attaches and detaches.
#
#   tests/vm/run-guest.sh --variant 4l --mttcg --timeout 300 -- tests/guest/stock-tcg-repro.sh [kprobes]
#   tests/vm/run-guest.sh --variant 4l --tcg-single --timeout 300 -- tests/guest/stock-tcg-repro.sh [kprobes]
mode=${1:-tracepoints}
rounds=${KVIEW_REPRO_ROUNDS:-$([[ $mode == *kprobes ]] && echo 200 || echo 60)}
t=/sys/kernel/tracing
mountpoint -q $t || mount -t tracefs nodev $t
if grep -q '^kview ' /proc/modules; then
	echo "stock-tcg-repro: kview is loaded; this must run without it" >&2
	exit 2
fi
loads=()
for cpu in 0 1; do
	taskset -c $cpu sh -c 'while :; do head -c 4096 /dev/zero >/dev/null; done' &
	loads+=($!)
done
# The entry of a function, after endbr64 (an IBT build) and the fentry call.
body=5
grep -qx 'CONFIG_X86_KERNEL_IBT=y' "/boot/config-$(uname -r)" 2>/dev/null && body=9
for i in $(seq 1 "$rounds"); do
	case $mode in
	tracepoints)
		echo 1 >$t/events/kmem/enable
		echo 0 >$t/events/kmem/enable
		echo 1 >$t/events/kmem/kfree/enable
		echo 0 >$t/events/kmem/kfree/enable
		;;
	kprobes)
		echo "p:repro1 schedule+$body" >>$t/kprobe_events
		echo "p:repro2 vfs_read+$body" >>$t/kprobe_events
		echo 1 >$t/events/kprobes/enable
		echo 0 >$t/events/kprobes/enable
		echo >$t/kprobe_events
		;;
	ftrace-kprobes)
		echo "p:repro1 vfs_read" >>$t/kprobe_events
		echo "r:repro2 vfs_read" >>$t/kprobe_events
		echo 1 >$t/events/kprobes/enable
		sleep 0.05
		echo 0 >$t/events/kprobes/enable
		echo >$t/kprobe_events
		;;
	*) echo "stock-tcg-repro: unknown mode '$mode' (tracepoints, kprobes, ftrace-kprobes)" >&2; exit 2 ;;
	esac
	((i % 10 == 0)) && echo "stock-tcg-repro: $mode round $i done" >/dev/console
done
kill "${loads[@]}"
echo "stock-tcg-repro: all $rounds $mode rounds done"
