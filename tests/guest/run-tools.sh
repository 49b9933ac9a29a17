#!/usr/bin/env bash
# Runs inside the QEMU guest: shipped bpftrace / bcc / libbpf-tools tools,
# unmodified, under `kview run -c WORKLOAD`, one after the other; one line
# per tool (exit status, the report's counts, the hooks' hits and program
# runs) for the table in docs/usage.md. Tool output and JSON reports land in
# $KVIEW_OUT/tools/. Usage: run-tools.sh [bpftrace|bcc|libbpf|all]...
#   tests/vm/run-guest.sh --variant 4l --timeout 590 -- tests/guest/run-tools.sh bpftrace
set -uo pipefail
build=${KVIEW_BUILD_DIR:-build}
kview=$build/cli/kview
out=${KVIEW_OUT:-/tmp}/tools
mkdir -p "$out"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
ulimit -l unlimited
insmod "$build/kmod/$(uname -r)/kview.ko" || exit 1

# The traced workload: reads, path lookups, execs and forks, a capability
# check (a negative nice), a TCP connect to a closed local port, a signal,
# a sync, a file created and removed, a setresuid, a bind.
work='dd if=/dev/zero of=/dev/null bs=1 count=2000 2>/dev/null; ls /usr/bin >/dev/null; cat /etc/hostname >/dev/null
nice -n -1 true; bash -c "exec 3<>/dev/tcp/127.0.0.1/9" 2>/dev/null; kill -0 $$; sync
touch /tmp/kview-tools-file; rm -f /tmp/kview-tools-file; setpriv --reuid=0 --regid=0 --clear-groups true
/usr/bin/python3 -c "import socket; socket.socket().bind((\"127.0.0.1\", 0))"'

bpftrace_tools=(
	"vfscount.bt|/usr/sbin/vfscount.bt"
	"vfsstat.bt|/usr/sbin/vfsstat.bt"
	"dcsnoop.bt|/usr/sbin/dcsnoop.bt"
	"capable.bt|/usr/sbin/capable.bt"
	"tcpconnect.bt|/usr/sbin/tcpconnect.bt"
	"swapin.bt|/usr/sbin/swapin.bt"
	"oomkill.bt|/usr/sbin/oomkill.bt"
	"opensnoop.bt|/usr/sbin/opensnoop.bt"
	"killsnoop.bt|/usr/sbin/killsnoop.bt"
	"syncsnoop.bt|/usr/sbin/syncsnoop.bt"
	"execsnoop.bt|/usr/sbin/execsnoop.bt"
	"statsnoop.bt|/usr/sbin/statsnoop.bt"
	"setuids.bt|/usr/sbin/setuids.bt"
	"writeback.bt|/usr/sbin/writeback.bt"
	"syscount.bt|/usr/sbin/syscount.bt"
	"bpftrace one-liner|bpftrace -e 'kprobe:vfs_read { @[comm] = count(); } kretprobe:vfs_read { @r = hist(retval); }'"
)
bcc_tools=(
	"funccount-bpfcc|funccount-bpfcc vfs_read"
	"funclatency-bpfcc|funclatency-bpfcc vfs_read"
	"vfscount-bpfcc|vfscount-bpfcc"
	"stackcount-bpfcc|stackcount-bpfcc vfs_read"
	"argdist-bpfcc|argdist-bpfcc -C 'p::vfs_read(struct file *f, char *b, size_t n):size_t:n'"
	"vfsstat-bpfcc|vfsstat-bpfcc"
	"execsnoop-bpfcc|execsnoop-bpfcc"
	"filetop-bpfcc|filetop-bpfcc -C 1 60"
	"killsnoop-bpfcc|killsnoop-bpfcc"
	"statsnoop-bpfcc|statsnoop-bpfcc"
	"syncsnoop-bpfcc|syncsnoop-bpfcc"
	"tcpconnect-bpfcc|tcpconnect-bpfcc"
	"filelife-bpfcc|filelife-bpfcc"
	"opensnoop-bpfcc|opensnoop-bpfcc"
	"bindsnoop-bpfcc|bindsnoop-bpfcc"
)
libbpf_tools=(
	"funclatency (libbpf)|/usr/sbin/funclatency vfs_read"
	"vfsstat (libbpf)|/usr/sbin/vfsstat"
	"capable (libbpf)|/usr/sbin/capable"
	"filetop (libbpf)|/usr/sbin/filetop -C 1 60"
	"tcpconnect (libbpf)|/usr/sbin/tcpconnect"
	"cachestat (libbpf)|/usr/sbin/cachestat 1 60"
	"execsnoop (libbpf)|/usr/sbin/execsnoop"
	"opensnoop (libbpf)|/usr/sbin/opensnoop"
	"killsnoop (libbpf)|/usr/sbin/killsnoop"
	"statsnoop (libbpf)|/usr/sbin/statsnoop"
	"bindsnoop (libbpf)|/usr/sbin/bindsnoop"
	"sigsnoop (libbpf)|/usr/sbin/sigsnoop"
	"filelife (libbpf)|/usr/sbin/filelife"
	"exitsnoop (libbpf)|/usr/sbin/exitsnoop"
)
tools=()
for set_ in "${@:-all}"; do
	case $set_ in
	bpftrace) tools+=("${bpftrace_tools[@]}") ;;
	bcc) tools+=("${bcc_tools[@]}") ;;
	libbpf) tools+=("${libbpf_tools[@]}") ;;
	*) tools+=("${bpftrace_tools[@]}" "${bcc_tools[@]}" "${libbpf_tools[@]}") ;;
	esac
done

i=0
for t in "${tools[@]}"; do
	name=${t%%|*}
	cmd=${t#*|}
	i=$((i + 1))
	t0=$(date +%s)
	# the tool's words, quotes included
	eval "timeout -k 10 240 \"\$kview\" run -c \"\$work\" --report \"\$out/\$i.json\" -- $cmd" >"$out/$i.out" 2>&1
	rc=$?
	python3 - "$out/$i.json" "$name" "$rc" "$(($(date +%s) - t0))" <<'EOF'
import json, sys
path, name, rc, secs = sys.argv[1:]
try:
    j = json.load(open(path))
except Exception as e:
    print(f"TOOL {name} | rc {rc} | no report ({e}) | {secs} s")
    sys.exit(0)
n = {}
for a in j["attaches"]:
    n[a["result"]] = n.get(a["result"], 0) + 1
hits = sum(a.get("hits", 0) for a in j["attaches"])
runs = sum(a.get("prog_runs", 0) for a in j["attaches"])
why = sorted({a["what"] + " " + a.get("errno", "") for a in j["attaches"] if a["result"] != "private"})
print(f"TOOL {name} | rc {rc} | private {n.get('private', 0)} refused {n.get('refused', 0)} "
      f"global {n.get('GLOBAL', 0)} blocked {n.get('blocked', 0)} | hits {hits} prog_runs {runs} "
      f"foreign {j.get('foreign_mm_hits')} | {secs} s | {'; '.join(why)[:200]}")
EOF
done
"$kview" list
rmmod kview
