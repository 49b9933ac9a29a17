#!/usr/bin/env bash
# Runs inside an --icount guest (tests/vm/run-guest.sh --icount: one vCPU,
# guest time advances 1 ns per executed instruction): what kview costs
# processes it does not trace, in instructions. Three untraced workloads,
# each timed in three configurations, interleaved, REPS times; the minimum
# of each is reported (the clock is exact; what varies between repetitions
# is the timer interrupts and the page cache, not the host):
#   none    the module not loaded
#   loaded  insmod, no view
#   view    a view on another (sleeping) process, with entry, return and
#           syscall hooks on the read path and fork/exec following
# Workloads: 50000 one-byte read()s (dd), 100 fork+exec (true from a
# shell loop), 20 static-key flips (the coherence path R1, docs/design.md §7).
# Prints one table; exit 1 if the module does not load or a view fails.
set -euo pipefail
build=${KVIEW_BUILD_DIR:-build}
ko=${KVIEW_KO:-$build/kmod/$(uname -r)/kview.ko}
kview=$build/cli/kview
reps=${KVIEW_ICOUNT_REPS:-5}
t=/sys/kernel/tracing
mountpoint -q $t || mount -t tracefs nodev $t
[[ ${KVIEW_ICOUNT:-0} == 1 ]] || echo "icount-footprint: not an --icount guest: times are wall-clock" >&2

# Instructions (ns of icount time) that "$@" takes.
instr() {
	local t0 t1
	t0=$EPOCHREALTIME
	"$@" >/dev/null 2>&1
	t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./}) * 1000))
}
# Programs run from the guest's tmpfs: a file read over 9p makes the vCPU wait
# for QEMU's I/O thread, and icount (sleep=off) then jumps the clock to the
# next timer. busybox is static: no shared library to page in either.
bb=/tmp/icount/busybox # busybox runs the applet its name says, or argv[1] when named busybox
mkdir -p /tmp/icount
cp /bin/busybox $bb
w_reads() { $bb dd if=/dev/zero of=/dev/null bs=1 count=50000 2>/dev/null; }
w_forkexec() { $bb sh -c "i=0; while [ \$i -lt 100 ]; do $bb true; i=\$((i + 1)); done"; }
w_textpoke() {
	for _ in $(seq 10); do
		echo 1 >$t/events/kmem/kfree/enable
		echo 0 >$t/events/kmem/kfree/enable
	done
}

sleep 100000 &
target=$!
view_pid=""
cleanup() {
	[[ -z $view_pid ]] || kill -CONT "$view_pid" 2>/dev/null || true
	kill "$target" ${view_pid:+"$view_pid"} 2>/dev/null || true
}
trap cleanup EXIT
config() { # none | loaded | view
	if [[ -n $view_pid ]]; then
		kill -CONT "$view_pid"
		kill -INT "$view_pid"
		wait "$view_pid" || true
		view_pid=""
	fi
	case $1 in
	none) ! grep -q '^kview ' /proc/modules || rmmod kview ;;
	loaded) grep -q '^kview ' /proc/modules || insmod "$ko" ;;
	view)
		grep -q '^kview ' /proc/modules || insmod "$ko"
		"$kview" trace -p "$target" --fork --exec -k vfs_read -r vfs_read -k ksys_read -s read -k kfree >/dev/null &
		view_pid=$!
		# up once the list shows its hooks (vfs_read entry+return, ksys_read, read enter+exit, kfree)
		up() { "$kview" list 2>/dev/null | awk -v p="$target" '$2 == p && $4 >= 6 { ok = 1 } END { exit !ok }'; }
		for _ in $(seq 200); do up && break; sleep 0.05; done
		up || { echo "icount-footprint: the view did not come up" >&2; exit 1; }
		# Stopped, it holds the view and executes nothing (it polls its
		# stats every 200 ms otherwise: instructions of its own).
		kill -STOP "$view_pid"
		;;
	esac
}
declare -A best
for ((r = 0; r < reps; r++)); do
	for c in none loaded view; do
		config "$c"
		for w in reads forkexec textpoke; do
			n=$(instr "w_$w")
			k=$c/$w
			[[ -z ${best[$k]:-} || $n -lt ${best[$k]} ]] && best[$k]=$n
		done
	done
done
config none
kill "$target"
printf '\n%-10s %16s %16s %16s %12s %12s\n' workload none loaded view loaded/none view/none
for w in reads forkexec textpoke; do
	a=${best[none/$w]} b=${best[loaded/$w]} c=${best[view/$w]}
	printf '%-10s %16d %16d %16d %12s %12s\n' "$w" "$a" "$b" "$c" \
		"$(awk -v x="$b" -v y="$a" 'BEGIN { printf "%.5f", x / y }')" \
		"$(awk -v x="$c" -v y="$a" 'BEGIN { printf "%.5f", x / y }')"
done
echo "(instructions, minimum of $reps interleaved repetitions; 1 vCPU, -icount shift=0)"
