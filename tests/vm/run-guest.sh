#!/usr/bin/env bash
# Run one command inside a QEMU (TCG) guest booting the installed Debian kernel,
# with the host root shared read-only over 9p, and decide PASS/FAIL.
#
#   tests/vm/run-guest.sh [--variant 5l|5l-pti|4l|4l-pti] [--timeout SECS]
#                         [--cmd-timeout SECS] [--mem SIZE] [--smp N] [--out DIR]
#                         [--env NAME=VALUE]... [--append KARGS] [--tcg-single | --mttcg]
#                         [--icount] [--quiet]
#                         -- CMD [ARGS...]
#
# One CMD argument is a bash script text (like `bash -c`); several are an argv
# (exec'd as is). See tests/vm/README.md for the guest environment and results.
# Exit status: 0 = PASS, 1 = FAIL, 2 = usage/setup error, 130 = interrupted.
set -euo pipefail

here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
prog=${0##*/}

usage() {
	sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-2}"
}
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 2; }

accel="" variant=5l timeout=600 cmd_timeout="" mem=2G smp=2 out="" quiet=0 extra_append="" icount=0
envs=()
while (($#)); do
	case $1 in
	--variant) variant=${2:?}; shift 2 ;;
	--variant=*) variant=${1#*=}; shift ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--timeout=*) timeout=${1#*=}; shift ;;
	--cmd-timeout) cmd_timeout=${2:?}; shift 2 ;;
	--cmd-timeout=*) cmd_timeout=${1#*=}; shift ;;
	--mem) mem=${2:?}; shift 2 ;;
	--mem=*) mem=${1#*=}; shift ;;
	--smp) smp=${2:?}; shift 2 ;;
	--smp=*) smp=${1#*=}; shift ;;
	--out) out=${2:?}; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	--env) envs+=("${2:?}"); shift 2 ;;
	--env=*) envs+=("${1#*=}"); shift ;;
	--append) extra_append=${2?}; shift 2 ;;
	--append=*) extra_append=${1#*=}; shift ;;
	--tcg-single) accel=tcg,thread=single; shift ;;
	--mttcg) accel=tcg,thread=multi; shift ;;
	--icount) icount=1; shift ;;
	--quiet | -q) quiet=1; shift ;;
	-h | --help) usage 0 ;;
	--) shift; break ;;
	*) printf '%s: unknown argument: %s\n' "$prog" "$1" >&2; usage 2 ;;
	esac
done
(($#)) || { printf '%s: no command given after --\n' "$prog" >&2; usage 2; }

case $variant in
5l) cpu=max pti="" ;;
5l-pti) cpu=max pti=pti=on ;;
4l) cpu=max,la57=off pti="" ;;
4l-pti) cpu=max,la57=off pti=pti=on ;;
max | max-pti) die "variant '$variant' is called '${variant/max/5l}' now (5-level paging)" ;;
*) die "unknown variant '$variant' (5l, 5l-pti, 4l, 4l-pti)" ;;
esac
# Instruction-exact time: QEMU advances the guest clock by 1 ns per executed
# instruction (shift=0), never by host time (sleep=off). Needs single-threaded
# TCG; one vCPU (with -smp 2 the guest hung bringing up the second CPU).
if ((icount)); then
	accel=tcg,thread=single
	[[ "$smp" == 1 ]] || { ((smp == 2)) || die "--icount runs one vCPU"; smp=1; }
fi
[[ "$timeout" =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive integer (seconds)"
[[ "$smp" =~ ^[1-9][0-9]*$ ]] || die "--smp must be a positive integer"
[[ "$mem" =~ ^[1-9][0-9]*[MGmg]?$ ]] || die "--mem must look like 2G or 2048M"
if [[ -z "$cmd_timeout" ]]; then
	# Leave room for boot and teardown inside the host-side bound.
	cmd_timeout=$((timeout * 3 / 4))
	((timeout - 120 > cmd_timeout)) && cmd_timeout=$((timeout - 120))
	((cmd_timeout >= 1)) || cmd_timeout=1
	# The in-guest bound is guest time. Under icount that runs ahead of the
	# host whenever the vCPU waits (for 9p, on a busy host: each idle wait
	# jumps to the next timer); 680 guest seconds passed in 60 host seconds
	# once. The host-side --timeout is the bound there.
	((!icount)) || cmd_timeout=$((timeout * 100))
fi
[[ "$cmd_timeout" =~ ^[1-9][0-9]*$ ]] || die "--cmd-timeout must be a positive integer"
for e in "${envs[@]}"; do
	[[ "$e" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env wants NAME=VALUE, got '$e'"
done

# ---- paths --------------------------------------------------------------------
repo=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || true)
[[ -n "$repo" ]] || repo=$here/../..
repo=$(cd -P -- "$repo" && pwd)
out=${out:-$repo/build/vm-out/$variant}
mkdir -p -- "$out"
out=$(cd -P -- "$out" && pwd)
# Paths go into the guest's env file and the 9p/bind setup; keep them plain.
safe='^/[A-Za-z0-9._/@+,:=-]*$'
[[ "$repo" =~ $safe ]] || die "repo path has unusual characters: $repo"
[[ "$out" =~ $safe ]] || die "--out path has unusual characters: $out"
[[ "$out" != / ]] || die "--out cannot be /"
# The guest's /tmp is a tmpfs: a repo under the host's /tmp (a CI clone, say)
# is exported on its own and mounted at the same path there (guest-init).
repo_share=0
case $repo/ in /tmp/* | /var/tmp/* | /run/* | /dev/shm/* | /root/* | /home/*) repo_share=1 ;; esac

kver=$("$here/kver.sh") || die "no usable kernel (see above); run tests/vm/install-deps.sh"
kernel=/boot/vmlinuz-$kver
[[ -r "$kernel" ]] || die "cannot read $kernel (Debian installs it mode 0600: run as root)"
initrd=$("$here/mkinitrd.sh" "$kver") || die "initrd build failed"
# TCG threading, unless --tcg-single/--mttcg chose: multi-threaded for 6.1
# and older, single-threaded for newer kernels. Multi-threaded TCG sometimes
# runs an int3 that live patching has already removed (stale translated
# code). 6.1's kprobe int3 handler forgives that (it re-executes the
# instruction); 6.12's no longer has that branch and the kernel dies on it
# ("Oops: int3"): stock 6.12, no kview, within 50 rounds of kprobe
# arm/disarm under load (tests/guest/stock-tcg-repro.sh kprobes;
# docs/reliability.md, "Stock kernel findings").
if [[ -z "$accel" ]]; then
	accel=tcg
	IFS=. read -r kmaj kmin _ <<<"$kver"
	((kmaj > 6 || (kmaj == 6 && kmin > 1))) && accel=tcg,thread=single
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (tests/vm/install-deps.sh)"

# One run per results dir at a time.
exec 8>"$out/.kview-guest.lock"
flock -n 8 || die "another run-guest.sh is using $out"

# ---- per-run files for the guest ----------------------------------------------
cfg=$out/.kview-guest
rm -rf -- "$cfg"
rm -f -- "$out"/{console.log,cmd.log,dmesg.txt,tainted,exit-code,qemu.log,verdict}
mkdir -p -- "$cfg"
nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')

cat >"$cfg/env" <<EOF
KVIEW_VARIANT='$variant'
KVIEW_OUT='$out'
KVIEW_REPO='$repo'
KVIEW_NONCE='$nonce'
KVIEW_CMD_TIMEOUT='$cmd_timeout'
KVIEW_REPO_SHARE='$repo_share'
EOF

{
	echo '# generated by tests/vm/run-guest.sh; runs in the guest: chroot /host, env -i'
	echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
	echo 'export HOME=/tmp TMPDIR=/tmp LANG=C.UTF-8 TERM=dumb'
	printf 'export KVIEW_GUEST=1 KVIEW_VARIANT=%q KVIEW_OUT=%q KVIEW_REPO=%q KVIEW_KVER=%q KVIEW_ACCEL=%q KVIEW_ICOUNT=%q\n' \
		"$variant" "$out" "$repo" "$kver" "$accel" "$icount"
	for e in "${envs[@]}"; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done
	# shellcheck disable=SC2016  # expands in the guest
	echo 'cd "$KVIEW_REPO" || exit 125'
	if (($# == 1)); then
		printf '%s\n' "$1"
	else
		printf 'exec'
		printf ' %q' "$@"
		printf '\n'
	fi
} >"$cfg/cmd.sh"

# loglevel=5 after quiet: warnings and the register/stack dumps of a soft
# lockup reach the console (a wedged guest cannot run dmesg); softlockup_panic
# ends such a guest at once (panic=-1 reboots, -no-reboot exits) instead of at
# the timeout. A soft lockup fails the dmesg scan anyway: no verdict changes.
append="console=ttyS0 quiet loglevel=5 softlockup_panic=1 panic=-1 panic_on_warn=0${pti:+ $pti}${extra_append:+ $extra_append}"
qemu=(
	qemu-system-x86_64
	-machine pc -accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem"
	-nographic -nodefaults -serial stdio -no-reboot
	-fw_cfg "name=etc/sercon-port,string=0"
	-kernel "$kernel" -initrd "$initrd" -append "$append"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$out,mount_tag=kviewout,security_model=none,multidevs=remap"
)
((!icount)) || qemu+=(-icount shift=0,sleep=off)
((!repo_share)) ||
	qemu+=(-virtfs "local,path=$repo,mount_tag=kviewrepo,security_model=none,readonly=on,multidevs=remap")
printf '%q ' "${qemu[@]}" >"$cfg/qemu-cmdline"

# ---- boot -----------------------------------------------------------------------
console=$out/console.log
say() { printf 'guest %s: %s\n' "$variant" "$*"; }
say "booting $kver, -cpu $cpu${pti:+ $pti}, -accel $accel, timeout ${timeout} s (command ${cmd_timeout} s), out $out"
start=$SECONDS
# timeout(1) is the hard bound; QEMU's own exit status is never trusted.
timeout -k 10 "$timeout" "${qemu[@]}" </dev/null >"$console" 2>"$out/qemu.log" &
qpid=$!
tpid=""
if ((!quiet)); then
	tail -n +1 -F --pid="$qpid" "$console" 2>/dev/null | sed -u "s/\r\$//; s/^/[$variant] /" &
	tpid=$!
fi
interrupted=0
# shellcheck disable=SC2317  # invoked by trap
on_signal() {
	interrupted=1
	kill -TERM "$qpid" 2>/dev/null || true
}
trap on_signal INT TERM HUP

# Progress every 15 s on a terminal, every 60 s into a log (CTest, CI): a
# failing guest's output is what CI shows, and it keeps only part of it.
every=15
[[ -t 1 ]] || every=60
next=$every
while kill -0 "$qpid" 2>/dev/null; do
	sleep 1 &
	wait $! || true
	el=$((SECONDS - start))
	if ((el >= next)); then
		say "$el s elapsed"
		next=$((next + every))
	fi
done
qrc=0
wait "$qpid" || qrc=$?
[[ -z "$tpid" ]] || wait "$tpid" 2>/dev/null || true
trap - INT TERM HUP
elapsed=$((SECONDS - start))

# ---- verdict --------------------------------------------------------------------
sed -i 's/\r$//' "$console"
sed -n "/^KVIEW-GUEST-CMD-BEGIN run=$nonce /,/^KVIEW-GUEST-CMD-END run=$nonce /{/^KVIEW-GUEST-CMD-/d;p}" \
	"$console" >"$out/cmd.log"

verdict() { # rc message
	local line
	if (($1 == 0)); then line="guest $variant: PASS ($elapsed s)"; else line="guest $variant: FAIL: $2 ($elapsed s)"; fi
	[[ -z "$timing" ]] || line+=" [$timing]"
	printf '%s\n' "$line" | tee "$out/verdict"
	exit "$1"
}
show_tail() { # last console lines, for context on failures
	echo "---- last console lines ($console) ----"
	tail -n "${1:-25}" "$console" | sed "s/^/[$variant] /"
	echo "----"
}

timing=""
b=$(sed -n "s/^KVIEW-GUEST-CMD-BEGIN run=$nonce uptime=\([0-9.]*\)\$/\1/p" "$console" | head -n 1)
e=$(sed -n "s/^KVIEW-GUEST-CMD-END run=$nonce rc=[0-9]* uptime=\([0-9.]*\)\$/\1/p" "$console" | head -n 1)
[[ -z "$b" ]] || timing="boot ${b} s"
[[ -z "$b" || -z "$e" ]] || timing+=", cmd $(awk -v b="$b" -v e="$e" 'BEGIN { printf "%.1f", e - b }') s"

if ((interrupted)); then
	verdict 130 "interrupted"
fi
sentinel=$(sed -n "s/^KVIEW-GUEST-EXIT: \([0-9]*\) run=$nonce\$/\1/p" "$console" | tail -n 1)
if [[ -z "$sentinel" ]]; then
	((quiet)) && show_tail 40
	reason="no exit sentinel"
	if ((qrc == 124 || qrc == 137)); then
		reason+=": guest did not finish within $timeout s"
	elif f=$(grep -m1 -E 'kview-init: FATAL:.*' "$console"); then
		reason+=": ${f#kview-init: }"
	elif grep -q 'Kernel panic' "$console"; then
		reason+=": $(grep -m1 -o 'Kernel panic.*' "$console")"
	else
		reason+=" (qemu exit $qrc; see $console, $out/qemu.log)"
	fi
	verdict 1 "$reason"
fi

fails=()
if ((sentinel != 0)); then
	if ((sentinel == 124)); then
		fails+=("command timed out after $cmd_timeout s (rc 124)")
	else
		fails+=("command exited with rc $sentinel")
	fi
fi

# dmesg: any of these, anywhere, fails the run. KVIEW_DMESG_IGNORE = ERE of lines to skip.
bad_re='BUG:|WARNING:|Oops|general protection|RIP:|Call Trace|Kernel panic|refcount_t:|UBSAN:|KASAN:|soft lockup|hard LOCKUP|blocked for more than|detected stall'
if [[ ! -s "$out/dmesg.txt" ]]; then
	fails+=("guest wrote no dmesg.txt")
else
	if [[ -n "${KVIEW_DMESG_IGNORE:-}" ]]; then
		hits=$(grep -E "$bad_re" "$out/dmesg.txt" | grep -Ev "$KVIEW_DMESG_IGNORE" || true)
	else
		hits=$(grep -E "$bad_re" "$out/dmesg.txt" || true)
	fi
	if [[ -n "$hits" ]]; then
		fails+=("dmesg: $(head -n 1 <<<"$hits" | sed 's/^\[ *[0-9.]*\] //') ($(wc -l <<<"$hits") bad lines)")
		echo "---- offending dmesg lines ($out/dmesg.txt) ----"
		head -n 20 <<<"$hits"
		echo "----"
	fi
fi

# The guest's root is the host's, read-only: a program that writes outside the
# guest's tmpfs dirs (a tool's default config in a home directory, say) works
# only on a machine where a host run left that file behind. Never allowed.
if ro=$(grep -m1 -E 'Read-only file system' "$out/cmd.log"); then
	fails+=("a write outside the guest's tmpfs dirs: $ro")
fi

# taint: only O (4096, out-of-tree) and E (8192, unsigned module) are allowed.
taint=$(tr -d ' \n' <"$out/tainted" 2>/dev/null || true)
if [[ ! "$taint" =~ ^[0-9]+$ ]]; then
	fails+=("guest wrote no valid tainted value")
else
	allowed=$((4096 | 8192))
	bad=$((taint & ~allowed))
	if ((bad)); then
		letters=(P F S R M B U D A W C I O E L K X T N)
		names=()
		for ((i = 0; i < 63; i++)); do
			((bad & (1 << i))) || continue
			names+=("$((1 << i))(${letters[i]:-bit$i})")
		done
		fails+=("kernel tainted $taint, disallowed bits: ${names[*]}")
	fi
fi

if ((${#fails[@]})); then
	((quiet)) && show_tail 25
	# What failed, with its file:line and message, wherever it was in the
	# run: the tail above shows only the end (CI keeps nothing else).
	if failed=$(grep -E -A4 ': Failure.?$' "$console" | grep -v '^--$' | head -n 60) && [[ -n $failed ]]; then
		echo "---- failures ($console) ----"
		sed "s/^/[$variant] /" <<<"$failed"
		echo "----"
	fi
	# (|| true: a run without such lines, e.g. an oops before any test, must
	# still reach its verdict line under set -e)
	grep -E '\[  FAILED  \]|^run-suite: .*FAILED|^kview-fuzz: (LEAK|.*FAIL)' "$console" | grep -v 'listed below' | head -n 30 | sed "s/^/[$variant] /" || true
	msg=${fails[0]}
	for f in "${fails[@]:1}"; do msg+="; $f"; done
	verdict 1 "$msg"
fi
verdict 0 ""
