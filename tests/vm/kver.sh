#!/usr/bin/env bash
# Print the kernel version the guest harness (and the module build) should use.
# A version V is usable when it has /boot/vmlinuz-V (to boot),
# /lib/modules/V/build (to build against) and modules.dep. Nothing is
# hard-coded; the answer comes from what is installed.
#
#   kver.sh            the default kernel: the newest usable 6.1 (Debian 12's
#                      own kernel, what the default guest suite boots), or,
#                      when there is none, the newest usable version
#   kver.sh --all      every usable version, one a line, oldest first
#                      (what `make` builds the module for)
#
# Override: KVIEW_KVER=<version> (validated the same way), or a selector:
#   KVIEW_KVER=6.12      the newest usable 6.12.* of the generic flavour (-amd64)
#   KVIEW_KVER=6.12-rt   the newest usable 6.12.* of the PREEMPT_RT flavour (-rt-amd64)
#   KVIEW_KVER=6.1       the newest usable 6.1.*
# Exit status 1, with a message on stderr, when no usable version exists.
set -euo pipefail

usable() {
	[[ -e "/boot/vmlinuz-$1" ]] &&
		[[ -d "/lib/modules/$1/build" ]] &&
		[[ -f "/lib/modules/$1/modules.dep" ]]
}

all_usable() { # oldest first
	local img v out=""
	shopt -s nullglob
	for img in /boot/vmlinuz-*; do
		v=${img#/boot/vmlinuz-}
		usable "$v" || continue
		out+="$v"$'\n'
	done
	shopt -u nullglob
	printf '%s' "$out" | sort -V
}

# Newest usable version of series $1 ("6.12") and flavour $2 ("", "rt").
select_series() {
	local series=${1//./\\.} flavour=$2
	all_usable | while read -r v; do
		[[ "$v" =~ ^$series\. ]] || continue
		case $flavour in
		rt) [[ "$v" == *-rt-* || "$v" == *-rt ]] || continue ;;
		"") [[ "$v" != *-rt-* && "$v" != *-rt && "$v" != *-cloud-* ]] || continue ;;
		esac
		printf '%s\n' "$v"
	done | tail -n 1
}

if [[ "${1:-}" == --all ]]; then
	all_usable
	exit 0
fi

want=${KVIEW_KVER:-}
if [[ -n "$want" && "$want" =~ ^[0-9]+\.[0-9]+(-rt)?$ ]]; then
	v=$(select_series "${want%-rt}" "$([[ "$want" == *-rt ]] && echo rt || true)")
	if [[ -n "$v" ]]; then
		printf '%s\n' "$v"
		exit 0
	fi
	echo "kver.sh: KVIEW_KVER=$want: no usable kernel of that series/flavour is installed" \
		"(tests/vm/install-deps.sh installs 6.1, 6.12 and 6.12-rt)" >&2
	exit 1
fi
if [[ -n "$want" ]]; then
	if usable "$want"; then
		printf '%s\n' "$want"
		exit 0
	fi
	echo "kver.sh: KVIEW_KVER=$want lacks /boot/vmlinuz-$want," \
		"/lib/modules/$want/build or modules.dep" >&2
	exit 1
fi

best=$(select_series 6.1 "")
[[ -n "$best" ]] || best=$(all_usable | tail -n 1)
if [[ -z "$best" ]]; then
	echo "kver.sh: no kernel version has both /boot/vmlinuz-V and /lib/modules/V/build;" \
		"run tests/vm/install-deps.sh (linux-image-amd64 + linux-headers-amd64)" >&2
	exit 1
fi
printf '%s\n' "$best"
