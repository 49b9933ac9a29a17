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
	sparse memcached libmemcached-tools bpftrace gnuplot-nox jq
	bpfcc-tools libbpf-tools strace
)
# Extra packages can be added without editing this file.
# shellcheck disable=SC2206  # word splitting is intended
[[ -n "${KVIEW_EXTRA_PKGS:-}" ]] && PKGS+=(${KVIEW_EXTRA_PKGS})

here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The second kernel series (docs/compat.md): Debian's <codename>-backports
# serves the 6.12 LTS kernel, in the generic (-amd64) and PREEMPT_RT
# (-rt-amd64) flavours. They are installed next to the release's 6.1 through
# their versioned package names, so linux-image-amd64 keeps pointing to 6.1.
# KVIEW_BACKPORTS=0 skips them.
BPO_FLAVOURS=(amd64 rt-amd64)
bpo_wanted=${KVIEW_BACKPORTS:-1}

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

# A backports kernel flavour counts as installed when some linux-image-6.12*
# of that flavour and its linux-headers are (dpkg only: no apt call).
flavour_of() { # 6.12.38+deb12-rt-amd64 -> rt-amd64
	case $1 in
	*-rt-amd64) echo rt-amd64 ;;
	*-cloud-amd64) echo cloud-amd64 ;;
	*-amd64) echo amd64 ;;
	esac
}
bpo_installed() { # flavour
	local name status v
	while read -r name status; do
		[[ "$status" == "install ok installed" ]] || continue
		v=${name#linux-image-}
		[[ "$(flavour_of "$v")" == "$1" ]] || continue
		installed "linux-headers-$v" && return 0
	done < <(dpkg-query -W -f='${Package} ${Status}\n' 'linux-image-6.12*' 2>/dev/null || true)
	return 1
}
bpo_missing=()
if [[ "$bpo_wanted" != 0 ]]; then
	for f in "${BPO_FLAVOURS[@]}"; do
		bpo_installed "$f" || bpo_missing+=("$f")
	done
fi

SUDO=()
if ((${#missing[@]} + ${#bpo_missing[@]})); then
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "not root and no sudo; run as root: $0"
		SUDO=(sudo -n)
	fi
fi
export DEBIAN_FRONTEND=noninteractive
apt_get=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

if ((${#missing[@]})); then
	log "missing: ${missing[*]}"

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

# --- the backports kernels ----------------------------------------------------
# The archive URI comes from the sources already configured: the entry that
# serves the release's own suite (deb822 .sources or one-line .list files).
release_uri() { # codename -> "URI<TAB>Signed-By" of the entry serving it
	awk -v suite="$1" '
	function flush() {
		if (uri != "" && deb && has) { print uri "\t" sb; found = 1; exit }
		uri = ""; sb = ""; deb = 0; has = 0
	}
	FNR == 1 { flush() }
	/^[ \t]*#/ { next }
	FILENAME ~ /\.sources$/ {
		if ($0 ~ /^[ \t]*$/) { flush(); next }
		k = tolower($1)
		if (k == "types:") for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1
		if (k == "uris:") uri = $2
		if (k == "suites:") for (i = 2; i <= NF; i++) if ($i == suite) has = 1
		if (k == "signed-by:") sb = $2
		next
	}
	$1 == "deb" {
		o = ""; n = 2
		if ($2 ~ /^\[/) { while (n <= NF && $n !~ /\]$/) { o = o " " $n; n++ } o = o " " $n; n++ }
		if ($(n + 1) == suite) {
			uri = $n; deb = 1; has = 1
			if (match(o, /signed-by=[^ \]]+/)) sb = substr(o, RSTART + 10, RLENGTH - 10)
			flush()
		}
	}
	END { if (!found) flush() }' "$2" "${@:3}"
}
bpo_source() { # codename: make <codename>-backports known to apt
	local files=() f uri_sb uri sb out=/etc/apt/sources.list.d/kview-backports.sources
	shopt -s nullglob
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f "$f" ]] && files+=("$f")
	done
	shopt -u nullglob
	((${#files[@]})) || die "no apt sources configured"
	if grep -qsE "(^|[[:space:]])$1-backports([[:space:]]|\$)" "${files[@]}"; then
		return 0
	fi
	uri_sb=$(release_uri "$1" /dev/null "${files[@]}")
	[[ -n "$uri_sb" ]] || die "no configured apt source serves the suite $1: cannot derive $1-backports"
	uri=${uri_sb%%$'\t'*}
	sb=${uri_sb#*$'\t'}
	log "adding $1-backports from the archive that serves $1 ($out)"
	{
		echo "# Added by kview tests/vm/install-deps.sh: the 6.12 LTS kernels."
		echo "Types: deb"
		echo "URIs: $uri"
		echo "Suites: $1-backports"
		echo "Components: main"
		[[ -n "$sb" ]] && echo "Signed-By: $sb"
	} | "${SUDO[@]}" tee "$out" >/dev/null
	return 1
}
bpo_pkgs() { # codename flavour -> the versioned image + headers packages
	local dep
	dep=$(apt-cache show "linux-image-$2/$1-backports" 2>/dev/null |
		awk '/^Depends:/ { print; exit }' | tr ',' '\n' |
		grep -Eo "linux-image-6\.12[^ ]*-$2" | head -n 1) || true
	[[ -n "$dep" ]] || return 1
	printf '%s linux-headers-%s\n' "$dep" "${dep#linux-image-}"
}
if ((${#bpo_missing[@]})); then
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[[ -n "$codename" ]] || die "no VERSION_CODENAME in /etc/os-release"
	log "6.12 kernels missing: ${bpo_missing[*]}"
	if ! bpo_source "$codename" ||
		! apt-cache policy linux-image-amd64 2>/dev/null | grep -qF " $codename-backports/"; then
		log "apt-get update"
		"${apt_get[@]}" update
	fi
	want=()
	for f in "${bpo_missing[@]}"; do
		p=$(bpo_pkgs "$codename" "$f") || die "$codename-backports has no 6.12 linux-image-$f"
		for q in $p; do want+=("$q/$codename-backports"); done
	done
	# pkg/suite, not -t: -t would also move the installed metapackages,
	# linux-libc-dev and bpftool to backports. Dependencies that only
	# backports has (linux-kbuild-6.12...) still come from there.
	log "apt-get install ${want[*]}"
	"${apt_get[@]}" install --no-install-recommends "${want[@]}"
	for f in "${bpo_missing[@]}"; do
		bpo_installed "$f" || die "the 6.12 $f kernel is still not installed"
	done
elif [[ "$bpo_wanted" != 0 ]]; then
	log "6.12 kernels (${BPO_FLAVOURS[*]}) already installed"
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
