# bash completion for yubin                                 -*- shell-script -*-
# Installed as $(datadir)/bash-completion/completions/yubin.  Account
# names are read from the account file: the one given with -c on the
# line, else $XDG_CONFIG_HOME/yubin/config.yaml, else
# ~/.config/yubin/config.yaml (the same order as yubin's).

# _yubin_account_file: print the account file this command line uses.
_yubin_account_file()
{
	local i file=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-c | --config) file=${COMP_WORDS[i + 1]} ;;
		--config=*) file=${COMP_WORDS[i]#--config=} ;;
		-c?*) file=${COMP_WORDS[i]#-c} ;;
		esac
	done
	if [[ -z $file ]]; then
		if [[ ${XDG_CONFIG_HOME-} == /* ]]; then
			file=$XDG_CONFIG_HOME/yubin/config.yaml
		else
			file=$HOME/.config/yubin/config.yaml
		fi
	fi
	# ~ and ~/ as the shell would have expanded them for yubin.
	case $file in
	"~") file=$HOME ;;
	"~/"*) file=$HOME/${file#"~/"} ;;
	esac
	printf '%s\n' "$file"
}

# _yubin_accounts: print the account names, one a line: the value of
# every "- name:" line, without quotes or a trailing comment.
_yubin_accounts()
{
	local file
	file=$(_yubin_account_file)
	[[ -r $file ]] || return 0
	awk '/^[ \t]*-[ \t]+name:/ {
		sub(/^[ \t]*-[ \t]+name:[ \t]*/, "")
		sub(/[ \t]+#.*$/, "")
		sub(/[ \t]+$/, "")
		if ($0 ~ /^".*"$/ || $0 ~ /^\047.*\047$/)
			$0 = substr($0, 2, length($0) - 2)
		if ($0 != "")
			print
	}' "$file" 2>/dev/null
}

_yubin()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=${COMP_WORDS[COMP_CWORD - 1]}
	local before_prev=
	((COMP_CWORD >= 2)) && before_prev=${COMP_WORDS[COMP_CWORD - 2]}
	local options='-c --config -v --verbose -q --quiet -n --dry-run
		-j --jobs --json --syslog --progress --no-progress --show-cert
		--authorize --ask-password --accept-new-uidls --import --list-folders --check
		--watch
		--shard --force
		-h --help --version'
	local IFS=$'\n'
	COMPREPLY=()

	case $prev in
	-c | --config)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-j | --jobs)
		return
		;;
	--shard)
		COMPREPLY=($(compgen -W auto -- "$cur"))
		return
		;;
	--authorize | --accept-new-uidls | --list-folders)
		COMPREPLY=($(compgen -W "$(_yubin_accounts)" -- "$cur"))
		return
		;;
	--import)
		COMPREPLY=($(compgen -W $'fetchmailrc\nmbsyncrc\nmpoprc\ngetmailrc' -- "$cur"))
		return
		;;
	esac
	if [[ $before_prev == --import ]]; then
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
	fi
	if [[ $cur == -* ]]; then
		IFS=$' \t\n'
		COMPREPLY=($(compgen -W "$options" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -W "$(_yubin_accounts)" -- "$cur"))
}
complete -F _yubin yubin
