#!/usr/bin/env bash
# Build (or reuse) the guest initramfs and print its path:
#   <repo>/build/vm/initrd-<kver>.gz    (cache dir overridable: KVIEW_VM_CACHE)
# Contents: busybox-static + applet links, /init (tests/vm/guest-init), and the
# modules needed to mount the host over virtio-9p, in dependency order from
# /lib/modules/<kver>/modules.dep (roots: virtio_pci 9pnet_virtio 9p; built-in
# ones are skipped). Rebuilt only when an input changes (kernel version, busybox,
# module files, guest-init, this script): see initrd-<kver>.stamp.
set -euo pipefail

here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -P -- "$here/../.." && pwd)
log() { printf 'mkinitrd: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ver=${1:-$("$here/kver.sh")}
mdir=/lib/modules/$ver
cache=${KVIEW_VM_CACHE:-$repo/build/vm}
ROOTS=(virtio_pci 9pnet_virtio 9p)

busybox=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
if readelf -l "$busybox" 2>/dev/null | grep -q 'Requesting program interpreter'; then
	die "$busybox is dynamically linked; install busybox-static"
fi
[[ -f "$mdir/modules.dep" ]] || die "$mdir/modules.dep missing"

# Resolve ROOTS to module files, dependencies first (depth-first post-order).
mods=$(awk -v roots="${ROOTS[*]}" '
	function modname(p,  n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); return n }
	FILENAME ~ /modules\.builtin$/ { builtin[modname($1)] = 1; next }
	{
		key = $1; sub(/:$/, "", key)
		path[modname(key)] = key
		d = ""; for (i = 2; i <= NF; i++) d = d " " $i
		deps[key] = d
	}
	function visit(p,  n, i, a) {
		if (p in seen) return
		seen[p] = 1
		n = split(deps[p], a, " ")
		for (i = 1; i <= n; i++) visit(a[i])
		print p
	}
	END {
		n = split(roots, r, " ")
		for (i = 1; i <= n; i++) {
			m = r[i]; gsub(/-/, "_", m)
			if (m in path) visit(path[m])
			else if (!(m in builtin)) { print "ERROR: module " m " neither in modules.dep nor built in" > "/dev/stderr"; exit 1 }
		}
	}' "$mdir/modules.builtin" "$mdir/modules.dep") || die "cannot resolve modules from $mdir/modules.dep"

initrd=$cache/initrd-$ver.gz
stampf=$cache/initrd-$ver.stamp
stamp=$(
	{
		echo "ver=$ver"
		stat -L -c '%n %s %Y' "$busybox" "$here/guest-init" "${BASH_SOURCE[0]}"
		sha256sum "$here/guest-init" "${BASH_SOURCE[0]}"
		while read -r m; do stat -L -c '%n %s %Y' "$mdir/$m"; done <<<"$mods"
	} | sha256sum | cut -d' ' -f1
)

mkdir -p "$cache"
exec 9>"$cache/.initrd.lock"
flock 9 # parallel run-guest.sh calls: build once
if [[ -s "$initrd" && -f "$stampf" && "$(cat "$stampf")" == "$stamp" ]]; then
	printf '%s\n' "$initrd"
	exit 0
fi

log "building $initrd"
stage=$(mktemp -d "$cache/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,host,out,lib/modules,usr/bin,usr/sbin}
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list-full); do
	[[ -e "$stage/$applet" ]] || ln -s /bin/busybox "$stage/$applet"
done
: >"$stage/modules.list"
while read -r m; do
	[[ -n "$m" ]] || continue
	dst=$stage/lib/modules/${m%.ko*}.ko
	mkdir -p "$(dirname "$dst")"
	case $m in
	*.ko) cp "$mdir/$m" "$dst" ;;
	*.ko.xz) xz -dc "$mdir/$m" >"$dst" ;;
	*.ko.zst) zstd -qdc "$mdir/$m" >"$dst" ;;
	*.ko.gz) gzip -dc "$mdir/$m" >"$dst" ;;
	*) die "unknown module format: $m" ;;
	esac
	echo "${m%.ko*}.ko" >>"$stage/modules.list"
done <<<"$mods"
install -m 0755 "$here/guest-init" "$stage/init"
# An initial console for /init; if mknod is not allowed, /init reopens it later.
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$stage/dev/null" c 1 3 2>/dev/null || true

(cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 >"$initrd.tmp"
mv -f "$initrd.tmp" "$initrd"
printf '%s\n' "$stamp" >"$stampf"
log "modules: $(tr '\n' ' ' <"$stage/modules.list")"
printf '%s\n' "$initrd"
