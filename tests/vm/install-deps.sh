#!/usr/bin/env bash
# Install everything kview needs to build and to run its QEMU guest tests.
# Idempotent: when every package is already installed it makes no apt call at all.
# Runs apt as root (directly, or through sudo when available), non-interactively,
# and runs `apt-get update` at most once, only when the package lists are missing,
# stale, or do not know a package we need.
#
# Always checks that the booted guest kernel (linux-image) and the headers we build
# against (linux-headers) are the same version.
set -euo pipefail

PKGS=(
	qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static cpio kmod
	build-essential cmake g++
	libbpf-dev bpftool clang llvm libelf-dev zlib1g-dev
	libgtest-dev libgmock-dev libboost-dev nlohmann-json3-dev
	sparse memcached libmemcached-tools bpftrace gnuplot-nox
)
# Extra packages can be added without editing this file.
# shellcheck disable=SC2206  # word splitting is intended
[[ -n "${KVIEW_EXTRA_PKGS:-}" ]] && PKGS+=(${KVIEW_EXTRA_PKGS})

here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

installed() { # pkg -> 0 if dpkg says "install ok installed"
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# One dpkg-query for all packages (fast path: no apt call when nothing is missing).
declare -A ok=()
while read -r name status; do
	[[ "$status" == "install ok installed" ]] && ok[${name%%:*}]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null || true)
missing=()
for p in "${PKGS[@]}"; do
	[[ -n "${ok[$p]:-}" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
	log "missing: ${missing[*]}"
	SUDO=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "not root and no sudo; run as root: $0"
		SUDO=(sudo -n)
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt_get=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

	# Update the lists once, only if needed: no lists, lists older than a day,
	# or some missing package has no installation candidate.
	need_update=0
	shopt -s nullglob
	lists=(/var/lib/apt/lists/*_Packages*)
	shopt -u nullglob
	if ((${#lists[@]} == 0)); then
		need_update=1
	elif [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit)" ]]; then
		need_update=1
	else
		for p in "${missing[@]}"; do
			cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
			if [[ -z "$cand" || "$cand" == "(none)" ]]; then need_update=1; break; fi
		done
	fi
	if ((need_update)); then
		log "apt-get update"
		"${apt_get[@]}" update
	fi
	log "apt-get install ${missing[*]}"
	"${apt_get[@]}" install --no-install-recommends "${missing[@]}"
else
	log "all ${#PKGS[@]} packages already installed"
fi

# --- linux-image / linux-headers must match -----------------------------------
# The metapackages each depend on exactly one versioned package; compare them.
dep_of() { # metapackage prefix -> "<abi> <version>" of the package it depends on
	local dep
	dep=$(dpkg-query -W -f='${Depends}' "$1-amd64" 2>/dev/null |
		tr ',' '\n' | grep -Eo "$1-[0-9][^ ]*-amd64 \(= [^)]+\)" | head -n 1) || true
	[[ -n "$dep" ]] || return 1
	# "linux-image-6.1.0-56-amd64 (= 6.1.192-2)" -> "6.1.0-56-amd64 6.1.192-2"
	sed -E "s/^$1-([^ ]+) \(= ([^)]+)\)$/\1 \2/" <<<"$dep"
}
img=$(dep_of linux-image) || die "cannot read linux-image-amd64's dependency (is it installed?)"
hdr=$(dep_of linux-headers) || die "cannot read linux-headers-amd64's dependency (is it installed?)"
if [[ "$img" != "$hdr" ]]; then
	die "kernel image and headers differ: linux-image-amd64 -> ${img/ / version }," \
		"linux-headers-amd64 -> ${hdr/ / version }. Install matching versions" \
		"(apt-get install linux-image-amd64 linux-headers-amd64 after apt-get update)."
fi
abi=${img%% *}
installed "linux-image-$abi" || die "linux-image-$abi is not installed"
installed "linux-headers-$abi" || die "linux-headers-$abi is not installed"
ver=$("$here/kver.sh") || die "no usable kernel version (see kver.sh message above)"
if [[ "$ver" != "$abi" ]]; then
	log "note: kver.sh picks $ver (newest with image+headers); metapackages point to $abi"
fi
log "kernel $ver: image and headers match (${img#* })"
