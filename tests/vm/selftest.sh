#!/usr/bin/env bash
# Prove the guest harness and document the paging matrix.
#
#   tests/vm/selftest.sh [--no-negative] [VARIANT...]     (default: all four)
#
# For each variant: boot, run a probe (uname, la57 flag, PTI state, file round
# trip through the results dir) and check from the host side that
#   5l       -> 5-level paging, PTI off
#   5l-pti   -> 5-level paging, PTI on
#   4l       -> 4-level paging, PTI off
#   4l-pti   -> 4-level paging, PTI on
# The kernel clears the la57 cpuinfo flag when it does not use 5-level paging, so
# "la57 present" means "5-level paging in use"; PTI in use shows as the "pti"
# flag (the meltdown sysfs file says "Not affected" even with pti=on). Then (unless --no-negative) on
# variant 5l: a failing command, an injected dmesg WARNING, a write to the
# read-only root, the host's /root seen as an empty tmpfs, a command timeout
# and a whole-guest timeout must each give FAIL.
# Results: build/vm-out/selftest/<variant>/ ; summary with timings on stdout.
set -euo pipefail

here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -P -- "$here/../.." && pwd)
base=$repo/build/vm-out/selftest
negative=1
variants=()
for a in "$@"; do
	case $a in
	--no-negative) negative=0 ;;
	-h | --help) sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) variants+=("$a") ;;
	esac
done
((${#variants[@]})) || variants=(5l 5l-pti 4l 4l-pti)

# shellcheck disable=SC2016  # expands in the guest
probe='
set -u
o=$KVIEW_OUT/probe.txt
{
	echo "kernel=$(uname -r)"
	echo "la57=$(grep -c "^flags.* la57" /proc/cpuinfo || true)"
	echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
	echo "isolation=$(dmesg | grep -i isolation | sed "s/^\\[[ 0-9.]*\\] //" | paste -sd "|" || true)"
	echo "meltdown=$(cat /sys/devices/system/cpu/vulnerabilities/meltdown)"
	echo "ptiflag=$(grep -c "^flags.* pti\( \|$\)" /proc/cpuinfo || true)"
	echo "variant=$KVIEW_VARIANT guest=$KVIEW_GUEST cwd=$PWD"
	echo "tmp=$(stat -f -c %T /tmp)"
} >"$o"
cat "$o"
echo hi >"$KVIEW_OUT/hello"
'

fails=0
summary=()
note() { summary+=("$*"); }

for v in "${variants[@]}"; do
	out=$base/$v
	rm -f "$out/probe.txt" "$out/hello"
	t0=$SECONDS
	if ! "$here/run-guest.sh" --quiet --variant "$v" --timeout 300 --out "$out" -- "$probe"; then
		note "$v: FAIL (harness verdict)"
		fails=$((fails + 1))
		continue
	fi
	dt=$((SECONDS - t0))
	p=$out/probe.txt
	get() { sed -n "s/^$1=//p" "$p"; }
	errs=()
	[[ -f "$p" ]] || errs+=("no probe.txt")
	[[ "$(cat "$out/hello" 2>/dev/null)" == hi ]] || errs+=("hello file did not come back")
	la57=$(get la57)
	case $v in
	5l | 5l-pti) ((la57 > 0)) || errs+=("expected 5-level (la57), got la57=$la57") ;;
	4l | 4l-pti) ((la57 == 0)) || errs+=("expected 4-level, got la57=$la57") ;;
	esac
	# X86_FEATURE_PTI shows as the "pti" cpuinfo flag. With pti=on on TCG the
	# meltdown file still says "Not affected" (the CPU is not vulnerable; PTI is forced).
	if (($(get ptiflag) > 0)) && [[ "$(get isolation)" == *"isolation: "*"enabled"* ]]; then
		pti=on
	else
		pti=off
	fi
	case $v in
	*-pti) [[ $pti == on ]] || errs+=("expected PTI on: '$(get isolation)' / '$(get meltdown)'") ;;
	*) [[ $pti == off ]] || errs+=("expected PTI off: '$(get isolation)' / '$(get meltdown)'") ;;
	esac
	[[ "$(get tmp)" == tmpfs ]] || errs+=("guest /tmp is $(get tmp), expected tmpfs")
	levels=4
	((la57 > 0)) && levels=5
	verdict=$(cat "$out/verdict")
	if ((${#errs[@]})); then
		note "$v: FAIL ${errs[*]}"
		fails=$((fails + 1))
	else
		note "$v: ok  paging=${levels}-level pti=$pti meltdown='$(get meltdown)' wall=${dt}s ${verdict#*PASS }"
	fi
done

expect_fail() { # name expected-substring run-guest args...
	local name=$1 want=$2 out=$base/neg-$1 line
	shift 2
	if "$here/run-guest.sh" --quiet --variant 5l --out "$out" "$@" >"$base/neg-$name.log" 2>&1; then
		note "negative $name: FAIL (harness said PASS)"
		fails=$((fails + 1))
		return
	fi
	line=$(tail -n 1 "$base/neg-$name.log")
	if [[ "$line" == *"$want"* ]]; then
		note "negative $name: ok  ($line)"
	else
		note "negative $name: FAIL (unexpected verdict: $line)"
		fails=$((fails + 1))
	fi
}
if ((negative)); then
	mkdir -p "$base"
	expect_fail exit-code "command exited with rc 3" -- 'echo failing on purpose; exit 3'
	expect_fail dmesg-warning "dmesg: WARNING: kview selftest" -- "echo 'WARNING: kview selftest' >/dev/kmsg"
	expect_fail taint "disallowed bits: 64(U)" -- 'echo 64 >/proc/sys/kernel/tainted'
	expect_fail read-only-write "a write outside the guest's tmpfs dirs" -- 'touch /usr/kview-selftest || true'
	expect_fail host-home-hidden "command exited with rc 4" -- \
		'[ -z "$(ls -A /root)" ] && [ "$(stat -f -c %T /root)" = tmpfs ] && exit 4; exit 0'
	expect_fail cmd-timeout "timed out after 5 s" --cmd-timeout 5 -- 'sleep 60'
	expect_fail guest-timeout "did not finish within 20 s" --timeout 20 --cmd-timeout 100 -- 'sleep 100'
fi

echo "==== tests/vm/selftest.sh summary ===="
printf '%s\n' "${summary[@]}"
if ((fails)); then
	echo "selftest: $fails FAILED"
	exit 1
fi
echo "selftest: all ok"
