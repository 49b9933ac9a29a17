#!/usr/bin/env bash
# Print the kernel version the guest harness (and the module build) should use:
# the newest V that has both /boot/vmlinuz-V (to boot) and /lib/modules/V/build
# (to build against). Nothing is hard-coded; the answer comes from what is installed.
#
# Override: KVIEW_KVER=<version> (validated the same way).
# Exit status 1, with a message on stderr, when no usable version exists.
set -euo pipefail

usable() {
	[[ -e "/boot/vmlinuz-$1" ]] &&
		[[ -d "/lib/modules/$1/build" ]] &&
		[[ -f "/lib/modules/$1/modules.dep" ]]
}

if [[ -n "${KVIEW_KVER:-}" ]]; then
	if usable "$KVIEW_KVER"; then
		printf '%s\n' "$KVIEW_KVER"
		exit 0
	fi
	echo "kver.sh: KVIEW_KVER=$KVIEW_KVER lacks /boot/vmlinuz-$KVIEW_KVER," \
		"/lib/modules/$KVIEW_KVER/build or modules.dep" >&2
	exit 1
fi

best=""
shopt -s nullglob
for img in /boot/vmlinuz-*; do
	v=${img#/boot/vmlinuz-}
	usable "$v" || continue
	best+="$v"$'\n'
done
best=$(printf '%s' "$best" | sort -V | tail -n 1)

if [[ -z "$best" ]]; then
	echo "kver.sh: no kernel version has both /boot/vmlinuz-V and /lib/modules/V/build;" \
		"run tests/vm/install-deps.sh (linux-image-amd64 + linux-headers-amd64)" >&2
	exit 1
fi
printf '%s\n' "$best"
