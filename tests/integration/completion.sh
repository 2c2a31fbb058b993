#!/bin/bash
# Shell completion (contrib/completion): the bash script, sourced in a
# bash subshell, offers every option of yubin --help, the account names
# of the account file (-c FILE, else $XDG_CONFIG_HOME, else ~/.config),
# the --import formats and then a file, auto for --shard; fish offers the same; the zsh and
# fish scripts parse.  zsh and fish missing is a failure, not a skip
# (contrib/debian-setup.sh installs them).  No server is needed.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"

[ -n "${YUBIN-}" ] && [ -x "$YUBIN" ] || tap_bail "YUBIN is not set (run through make check)"
work=$(mktemp -d "${TMPDIR:-/tmp}/yubin-completion.XXXXXX") || tap_bail "no temporary directory"
trap 'rm -rf "$work"' EXIT
completion=$top_srcdir/contrib/completion

tap_plan 22

# The test account file: a comment, quotes and a defaults block, as
# people write them.
mkdir -p "$work/conf" "$work/xdg/yubin" "$work/home/.config/yubin"
cat >"$work/conf/accounts.yaml" <<'YAML'
defaults:
  timeout: 30
accounts:
  - name: home        # the POP3 one
    protocol: pop3
  - name: "work"
    protocol: imap
  -   name: 'archive'
YAML
printf 'accounts:\n  - name: fromxdg\n' >"$work/xdg/yubin/config.yaml"
printf 'accounts:\n  - name: fromhome\n' >"$work/home/.config/yubin/config.yaml"
touch "$work/conf/fetchmailrc.old"

long_options=$("$YUBIN" --help | sed -n 's/^ *\(-[a-z], \)\{0,1\}\(--[a-z-]*\).*/\2/p' | sort)
short_options=$("$YUBIN" --help | sed -n 's/^  \(-[a-z]\),.*/\1/p' | sort)
[ "$(printf '%s\n' "$long_options" | wc -l)" -ge 15 ] ||
	tap_bail "cannot read the options of yubin --help"

# bash_complete LINE: the sorted COMPREPLY for LINE (the cursor at its
# end; a trailing space starts an empty word), one a line, completed in
# $work/conf with HOME=$work/home and no XDG_CONFIG_HOME unless set.
bash_complete() {
	(cd "$work/conf" && HOME=$work/home bash --norc --noprofile -c '
		. "$1"
		read -r -a COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$2
		COMP_POINT=${#2}
		_yubin yubin "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' bash "$completion/yubin.bash" "$1") | sort
}

# lines WORD...: the words one a line, sorted, as the completions print.
lines() {
	printf '%s\n' "$@" | sort
}

tap_is "$(bash_complete 'yubin --')" "$long_options" \
	"bash: every long option of yubin --help"
got=$(bash_complete 'yubin -')
missing=$(comm -23 <(printf '%s\n' "$short_options") <(printf '%s\n' "$got"))
tap_is "$missing" "" "bash: every short option of yubin --help"
tap_is "$(bash_complete 'yubin -c accounts.yaml ')" "$(lines archive home work)" \
	"bash: the account names of -c FILE (comment, quotes, defaults)"
tap_is "$(bash_complete 'yubin --config accounts.yaml -v w')" "work" \
	"bash: an account name begun"
tap_is "$(bash_complete 'yubin -c accounts.yaml --authorize ')" "$(lines archive home work)" \
	"bash: --authorize takes an account"
tap_is "$(bash_complete 'yubin -c accounts.yaml --accept-new-uidls h')" "home" \
	"bash: --accept-new-uidls takes an account"
tap_is "$(bash_complete 'yubin -c accounts.yaml --watch w')" "work" \
	"bash: --watch is followed by accounts"
tap_is "$(bash_complete 'yubin --import ')" "$(lines fetchmailrc getmailrc mbsyncrc mpoprc)" \
	"bash: --import takes a format"
tap_is "$(bash_complete 'yubin --import fetchmailrc fetch')" "fetchmailrc.old" \
	"bash: --import FORMAT takes a file"
tap_is "$(bash_complete 'yubin --shard ')" "auto" "bash: --shard offers auto"
tap_is "$(bash_complete 'yubin -c acc')" "accounts.yaml" "bash: -c takes a file"
tap_is "$(XDG_CONFIG_HOME=$work/xdg bash_complete 'yubin ')" "fromxdg" \
	"bash: the account file under \$XDG_CONFIG_HOME"
tap_is "$(bash_complete 'yubin ')" "fromhome" \
	"bash: else the account file under ~/.config"

if command -v zsh >/dev/null; then
	tap_check "zsh: _yubin parses (zsh -n)" zsh -n "$completion/_yubin"
	missing=
	for option in $long_options; do
		# Written as '--name[', '--name=[', or {-x,--name} in braces.
		grep -qE -- "[',)]$option(=|\\}|\\[)" "$completion/_yubin" ||
			missing="$missing $option"
	done
	tap_is "$missing" "" "zsh: every long option of yubin --help in _yubin"
else
	tap_not_ok "zsh: _yubin parses (zsh -n)" "zsh is not installed (contrib/debian-setup.sh)"
	tap_not_ok "zsh: every long option of yubin --help in _yubin" "zsh is not installed"
fi

# fish_complete LINE: what fish offers for LINE, the words only, sorted.
fish_complete() {
	(cd "$work/conf" && HOME=$work/home fish --no-config -c \
		'source $argv[1]; complete -C $argv[2]' "$completion/yubin.fish" "$1") |
		cut -f1 | sort
}

if command -v fish >/dev/null; then
	tap_check "fish: yubin.fish parses (fish --no-execute)" \
		fish --no-execute "$completion/yubin.fish"
	tap_is "$(fish_complete 'yubin --')" "$long_options" \
		"fish: every long option of yubin --help"
	tap_is "$(fish_complete 'yubin -c accounts.yaml ')" "$(lines archive home work)" \
		"fish: the account names of -c FILE"
	tap_is "$(fish_complete 'yubin --import ')" "$(lines fetchmailrc getmailrc mbsyncrc mpoprc)" \
		"fish: --import takes a format"
	tap_is "$(fish_complete 'yubin --shard ')" "auto" "fish: --shard offers auto"
	tap_is "$(fish_complete 'yubin --import mpoprc fetch')" "fetchmailrc.old" \
		"fish: --import FORMAT takes a file"
	tap_is "$(XDG_CONFIG_HOME=$work/xdg fish_complete 'yubin --authorize ')" "fromxdg" \
		"fish: --authorize takes an account of \$XDG_CONFIG_HOME's file"
else
	for desc in parses "long options" accounts "import formats" "shard" "import file" authorize; do
		tap_not_ok "fish: $desc" "fish is not installed (contrib/debian-setup.sh)"
	done
fi

tap_finish
