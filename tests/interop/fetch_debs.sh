# fetch_debs.sh - Debian packages of a mail server unpacked into a private
# root, never installed (sourced, bash).
#
#   fetch_debs ROOT PKG...   download each PKG (kept in the cache below
#                            between runs), unpack it into ROOT with
#                            dpkg-deb -x, and do the same for every
#                            dependency it needs that is not installed on
#                            this machine; prints one line per package;
#                            returns non-zero with a message naming the
#                            package that could not be had
#                            (ROOT is emptied first; a ROOT already
#                            unpacked with the same PKG list is kept)
#   fetch_debs_libpath ROOT  the LD_LIBRARY_PATH that finds ROOT's
#                            private libraries first
#   fetch_debs_ldd ROOT PROGRAM...
#                            fails naming any library a PROGRAM lacks
#
# Several of these servers conflict with Dovecot as installed packages, so
# they run from their unpacked files.  A dependency is followed when it is
# missing here and is a library (lib*) or comes from the same source
# package as the one that needs it (mailutils-common beside
# mailutils-imap4d): what the program loads or reads.  Other missing
# dependencies (update-inetd, adduser, debconf: what a package's scripts
# need, and dpkg-deb -x runs no scripts) are named but not fetched.
#
# The cache is $INTEROP_DEBS (default tests/interop/debs in the build tree).
# Without network, the first run fails and says which package it could not
# download; a later run with the cache filled needs no network.

: "${INTEROP_DEBS:=${top_builddir:-$PWD}/tests/interop/debs}"

# fetch_debs_present PKG: true when PKG's files are on this machine (the
# package is installed or unpacked by dpkg, or provided by one that is).
# FETCH_DEBS_HERE: one line per such package, "NAME PROVIDES...", read
# once per fetch_debs by fetch_debs_scan.
FETCH_DEBS_HERE=
fetch_debs_scan() {
	FETCH_DEBS_HERE=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Provides}\n' |
		sed -n 's/^.[iUFWt]. //p' | tr -d ',' | sed 's/ ([^)]*)//g')
}

fetch_debs_present() {
	awk -v want="$1" '{ for (i = 1; i <= NF; i++) if ($i == want) found = 1 }
		END { exit !found }' <<<"$FETCH_DEBS_HERE"
}

# FETCH_DEBS_INDEX: a file with one line per package apt can download,
# "NAME SOURCE", written once per fetch_debs by fetch_debs_index: asking
# apt-cache show about each dependency costs about a second a question,
# which made a family's first run take over a minute.
FETCH_DEBS_INDEX=
fetch_debs_index() {
	mkdir -p "$INTEROP_DEBS" || return 1
	FETCH_DEBS_INDEX=$INTEROP_DEBS/.index
	apt-cache dumpavail | awk '
		/^Package: / { name = $2; source = $2 }
		/^Source: / { source = $2 }
		/^$/ { if (name != "") print name, source; name = "" }
		END { if (name != "") print name, source }' | sort -u >"$FETCH_DEBS_INDEX"
}

# fetch_debs_known NAME: true when NAME is a package apt can download (not
# only a virtual one).
fetch_debs_known() {
	awk -v want="$1" '$1 == want { found = 1; exit } END { exit !found }' "$FETCH_DEBS_INDEX"
}

# fetch_debs_file PKG: the cached .deb of PKG, downloaded if it is not
# there yet; prints its path.
fetch_debs_file() {
	local pkg=$1 deb
	for deb in "$INTEROP_DEBS/${pkg}"_*.deb; do
		if [ -f "$deb" ] && [ "$(dpkg-deb -f "$deb" Package 2>/dev/null)" = "$pkg" ]; then
			printf '%s\n' "$deb"
			return 0
		fi
	done
	mkdir -p "$INTEROP_DEBS" || return 1
	# apt-get downloads into the current directory; as root its sandbox
	# user may not write there, which it only warns about.
	if ! (cd "$INTEROP_DEBS" && apt-get download -q "$pkg") >"$INTEROP_DEBS/.download.log" 2>&1; then
		printf 'fetch_debs: cannot download the Debian package %s (apt-get download %s failed: no network to the Debian mirror, or no such package in the apt sources?):\n' \
			"$pkg" "$pkg" >&2
		grep -E '^(E|W):' "$INTEROP_DEBS/.download.log" | head -n 5 >&2
		return 1
	fi
	for deb in "$INTEROP_DEBS/${pkg}"_*.deb; do
		if [ -f "$deb" ]; then
			printf '%s\n' "$deb"
			return 0
		fi
	done
	printf 'fetch_debs: apt-get download %s left no %s_*.deb in %s\n' "$pkg" "$pkg" "$INTEROP_DEBS" >&2
	return 1
}

# fetch_debs_source DEB_OR_PKG: the source package name of a .deb or of a
# package in the apt cache.
fetch_debs_source() {
	local src
	if [ -f "$1" ]; then
		src=$(dpkg-deb -f "$1" Source)
		[ -n "$src" ] || src=$(dpkg-deb -f "$1" Package)
	else
		src=$(awk -v want="$1" '$1 == want { print $2; exit }' "$FETCH_DEBS_INDEX")
		[ -n "$src" ] || src=$1
	fi
	printf '%s\n' "${src%% *}"
}

# fetch_debs_needs DEB: the dependencies of DEB to fetch, one a line: for
# each Depends/Pre-Depends group none of whose alternatives is present,
# its first alternative that is a real package, when that one is a library
# or comes from DEB's source package.  Named on stderr otherwise.
fetch_debs_needs() {
	local deb=$1 src group alt name first
	src=$(fetch_debs_source "$deb")
	{
		dpkg-deb -f "$deb" Pre-Depends
		dpkg-deb -f "$deb" Depends
	} | tr ',' '\n' | while IFS= read -r group; do
		[ -n "${group// /}" ] || continue
		first=
		while IFS= read -r alt; do
			name=${alt// /}
			name=${name%%(*}
			name=${name%%:*}
			[ -n "$name" ] || continue
			if fetch_debs_present "$name"; then
				first=
				continue 2
			fi
			if [ -z "$first" ] && fetch_debs_known "$name"; then
				first=$name
			fi
		done < <(printf '%s\n' "$group" | tr '|' '\n')
		if [ -z "$first" ]; then
			printf 'fetch_debs: %s: not fetching%s (no package apt can download, none installed)\n' \
				"$(dpkg-deb -f "$deb" Package)" "$group" >&2
			continue
		fi
		case $first in
		lib*) printf '%s\n' "$first" ;;
		*)
			if [ "$(fetch_debs_source "$first")" = "$src" ]; then
				printf '%s\n' "$first"
			else
				printf 'fetch_debs: %s: not fetching %s (not a library; its scripts are not run)\n' \
					"$(dpkg-deb -f "$deb" Package)" "$first" >&2
			fi
			;;
		esac
	done
}

fetch_debs() {
	local root=$1 pkg deb need
	shift
	if [ -z "$root" ] || [ $# -eq 0 ]; then
		printf 'fetch_debs: usage: fetch_debs ROOT PKG...\n' >&2
		return 2
	fi
	if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
		printf 'fetch_debs: apt-get and dpkg-deb are needed to unpack %s\n' "$*" >&2
		return 1
	fi
	# Unpacked before from the same cached files: nothing to do.
	if [ -f "$root/.fetch_debs" ] && [ "$(cat "$root/.fetch_debs")" = "$*" ]; then
		printf 'fetch_debs: %s already unpacked in %s\n' "$*" "$root"
		return 0
	fi
	rm -rf -- "$root" && mkdir -p "$root" || return 1
	fetch_debs_scan
	fetch_debs_index || return 1
	local -a queue=("$@")
	local -A seen=()
	while [ ${#queue[@]} -gt 0 ]; do
		pkg=${queue[0]}
		queue=("${queue[@]:1}")
		[ -z "${seen[$pkg]-}" ] || continue
		seen[$pkg]=1
		deb=$(fetch_debs_file "$pkg") || return 1
		if ! dpkg-deb -x "$deb" "$root"; then
			printf 'fetch_debs: dpkg-deb -x %s into %s failed\n' "$deb" "$root" >&2
			return 1
		fi
		printf 'fetch_debs: %s unpacked into %s\n' "${deb##*/}" "$root"
		for need in $(fetch_debs_needs "$deb"); do
			[ -n "${seen[$need]-}" ] || queue+=("$need")
		done
	done
	printf '%s\n' "$*" >"$root/.fetch_debs"
}

# fetch_debs_ldd ROOT PROGRAM...: fails naming every shared library that a
# PROGRAM (unpacked in ROOT) needs and neither ROOT nor the system has.
fetch_debs_ldd() {
	local root=$1 prog missing
	shift
	for prog in "$@"; do
		missing=$(LD_LIBRARY_PATH=$(fetch_debs_libpath "$root") ldd "$prog" 2>&1 |
			grep 'not found')
		if [ -n "$missing" ]; then
			printf 'fetch_debs: %s needs libraries that no unpacked package has:\n%s\n' \
				"$prog" "$missing" >&2
			return 1
		fi
	done
}

fetch_debs_libpath() {
	local root=$1 dir path=
	for dir in "$root"/usr/lib/*-linux-gnu* \
		"$root"/lib/*-linux-gnu* "$root"/usr/lib; do
		[ -d "$dir" ] || continue
		case ":$path:" in *":$dir:"*) continue ;; esac
		path=${path:+$path:}$dir
	done
	# Sub-directories holding shared objects (a package's private libraries).
	while IFS= read -r dir; do
		case ":$path:" in *":$dir:"*) continue ;; esac
		path=${path:+$path:}$dir
	done < <(find "$root" -name '*.so*' -type f -printf '%h\n' 2>/dev/null | sort -u)
	printf '%s\n' "$path"
}
