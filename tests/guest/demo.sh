#!/usr/bin/env bash
# The README's main command runs this inside the QEMU guest (make demo):
# load kview, trace one process, and show another one running the same code
# untouched.
set -euo pipefail
build=${KVIEW_BUILD_DIR:-build}
kview=$build/cli/kview
say() { printf '\n=== %s\n' "$*"; }

say "load the module"
insmod "${KVIEW_KO:-$build/kmod/$(uname -r)/kview.ko}"
"$kview" version

say "two processes doing the same 1-byte reads: P (traced) and Q (untraced)"
# Each waits for a go signal so that both run while the view is live.
mkfifo /tmp/go-p /tmp/go-q
( read -r _ < /tmp/go-p; exec dd if=/dev/zero of=/dev/null bs=1 count=20000 status=none ) & P=$!
( read -r _ < /tmp/go-q; exec dd if=/dev/zero of=/dev/null bs=1 count=50000 status=none ) & Q=$!
echo "P=$P Q=$Q"

say "kview trace -p $P --exec -k vfs_read -r vfs_read -s read (until P exits)"
"$kview" trace -p "$P" --exec -k vfs_read -r vfs_read -s read -d 60s > /tmp/trace.txt &
T=$!
sleep 1
echo go > /tmp/go-q
echo go > /tmp/go-p
wait "$P" "$Q" "$T" || true
cat /tmp/trace.txt
echo "(P did 20000 reads of /dev/zero + the exec'd dd's own few reads; Q did 50000,"
echo " and FOREIGN = hits from any other process = 0: Q ran the original kernel text)"
# Broken, not just slow: a hook that missed one of P's 20000 reads, or any hit
# from another process.
bad=$(awk '$2 ~ /^(kprobe|kretprobe|syscall-enter|syscall-exit)$/ {
	rows++
	if ($3 < 20000) printf "%s %s: %d hits, P made at least 20000 reads\n", $1, $2, $3
	if ($5 != 0) printf "%s %s: %d hits from untraced processes\n", $1, $2, $5
} END { if (rows != 4) printf "expected 4 hook rows, got %d\n", rows }' /tmp/trace.txt)
if [[ -n $bad ]]; then
	echo "demo: FAILED:"
	printf '  %s\n' "$bad"
	exit 1
fi

say "nothing left behind"
"$kview" stat
rmmod kview
echo "demo: OK"
