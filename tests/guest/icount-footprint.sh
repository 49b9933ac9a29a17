#!/usr/bin/env bash
# Runs inside an --icount guest (tests/vm/run-guest.sh --icount: one vCPU,
# guest time advances 1 ns per executed instruction): what kview costs
# processes it does not trace, in instructions. Four untraced workloads,
# each measured (the CPU time of its processes) in three configurations,
# interleaved, REPS times; the minimum and the median of each are reported (the clock is
# exact; what varies between repetitions is the timer interrupts and the
# page cache, not the host):
#   none    the module not loaded
#   loaded  insmod, no view
#   view    a view on another (sleeping) process, with entry, return and
#           syscall hooks on the read path and fork/exec following
# Workloads: 50000 one-byte read()s (dd), 100 fork+exec (true from a
# shell loop), 5000 pipe round trips between two processes (10000 context
# switches), 20 flips of the sched_schedstats static key (text patching:
# the coherence path R1, docs/design.md §7).
# Prints one table, then the text_poke_memcpy calls one flip makes (counted
# by a stock kprobe with kview not loaded); exit 1 if the module does not
# load or a view fails.
set -euo pipefail
build=${KVIEW_BUILD_DIR:-build}
ko=${KVIEW_KO:-$build/kmod/$(uname -r)/kview.ko}
kview=$build/cli/kview
reps=${KVIEW_ICOUNT_REPS:-5}
t=/sys/kernel/tracing
mountpoint -q $t || mount -t tracefs nodev $t
[[ ${KVIEW_ICOUNT:-0} == 1 ]] || echo "icount-footprint: not an --icount guest: times are wall-clock" >&2

# Programs run from the guest's tmpfs: a file read over 9p makes the vCPU wait
# for QEMU's I/O thread, and icount (sleep=off) then jumps the clock to the
# next timer. busybox is static: no shared library to page in either.
d=/tmp/icount
mkdir -p $d
cp /bin/busybox "$build/tests/kview-pingpong" "$build/tests/kview-cputime" $d/
bb=$d/busybox # busybox runs the applet its name says, or argv[1] when named busybox
ss=/proc/sys/kernel/sched_schedstats
ss0=$(cat $ss)
declare -A work=(
	[reads]="$bb dd if=/dev/zero of=/dev/null bs=1 count=50000"
	[forkexec]="$bb sh -c 'i=0; while [ \$i -lt 100 ]; do $bb true; i=\$((i + 1)); done'"
	[ctxsw]="$d/kview-pingpong 5000"
	[textpoke]="$bb sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do echo $((1 - ss0)) >$ss; echo $ss0 >$ss; done'"
)
order=(reads forkexec ctxsw textpoke)
# Instructions executed on behalf of workload $1: the CPU time (icount: 1 ns
# per instruction) of its processes, from wait4. The elapsed time would also
# count the clock jumps icount makes whenever the vCPU idles (a shell waiting
# for its child, an RCU grace period), which made fork+exec and text patching
# swing by 2-30 % between repetitions.
instr() {
	local out
	out=$(eval "$d/kview-cputime ${work[$1]}" 2>/dev/null | tail -n 1) || {
		echo "icount-footprint: workload $1 failed" >&2
		exit 1
	}
	echo "${out%% *}"
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
	echo "icount-footprint: config $1" >&2
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
# How many text_poke_memcpy calls the textpoke workload makes, counted by a
# stock kprobe before kview is ever loaded.
echo "p:kv_tpm text_poke_memcpy" >>$t/kprobe_events
echo 1 >$t/events/kprobes/kv_tpm/enable
instr textpoke >/dev/null
echo 0 >$t/events/kprobes/kv_tpm/enable
hits=$(awk '$1 == "kv_tpm" { print $2 }' $t/kprobe_profile)
echo "-:kv_tpm" >>$t/kprobe_events
pokes="text_poke_memcpy calls per textpoke workload (20 flips): $hits"

declare -A best all
for ((r = 0; r < reps; r++)); do
	for c in none loaded view; do
		config "$c"
		# Let the work a configuration change leaves behind (RCU callbacks,
		# freed module memory, kworkers) run before measuring: softirqs are
		# charged to whichever task they interrupt. Each workload runs once
		# unmeasured first (page cache, slab caches).
		sleep 1
		for w in "${order[@]}"; do
			instr "$w" >/dev/null
			n=$(instr "$w")
			echo "sample $r $c $w $n" >&2
			k=$c/$w
			all[$k]+=" $n"
			[[ -z ${best[$k]:-} || $n -lt ${best[$k]} ]] && best[$k]=$n
		done
	done
done
config none
kill "$target"
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
table() { # min | median
	printf '\n%-10s %16s %16s %16s %12s %12s   (%s)\n' workload none loaded view loaded/none view/none "$1"
	for w in "${order[@]}"; do
		local a b c
		if [[ $1 == min ]]; then
			a=${best[none/$w]} b=${best[loaded/$w]} c=${best[view/$w]}
		else
			a=$(median "${all[none/$w]}") b=$(median "${all[loaded/$w]}") c=$(median "${all[view/$w]}")
		fi
		printf '%-10s %16d %16d %16d %12s %12s\n' "$w" "$a" "$b" "$c" \
			"$(awk -v x="$b" -v y="$a" 'BEGIN { printf "%.5f", x / y }')" \
			"$(awk -v x="$c" -v y="$a" 'BEGIN { printf "%.5f", x / y }')"
	done
}
table min
table median
echo "(instructions: CPU time of the workload's processes, $reps interleaved repetitions; 1 vCPU, -icount shift=0)"
echo "$pokes"
