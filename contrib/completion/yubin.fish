# fish completion for yubin, installed as
# $(datadir)/fish/vendor_completions.d/yubin.fish.  Account names are
# read from the account file: the one given with -c on the line, else
# $XDG_CONFIG_HOME/yubin/config.yaml, else ~/.config/yubin/config.yaml
# (the same order as yubin's).

# The account file this command line uses.
function __yubin_account_file
    set -l tokens (commandline -opc)
    set -l file
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case -c --config
                set -l next (math $i + 1)
                if test $next -le (count $tokens)
                    set file $tokens[$next]
                end
            case '--config=*'
                set file (string replace -- --config= '' $tokens[$i])
            case '-c?*'
                set file (string sub -s 3 -- $tokens[$i])
        end
    end
    if test -z "$file"
        if string match -q -- '/*' "$XDG_CONFIG_HOME"
            set file $XDG_CONFIG_HOME/yubin/config.yaml
        else
            set file $HOME/.config/yubin/config.yaml
        end
    end
    string replace -r -- '^~(?=/|$)' $HOME $file
end

# The value of every "- name:" line, without quotes or a trailing comment.
function __yubin_accounts
    set -l file (__yubin_account_file)
    test -r "$file"; or return 0
    awk '/^[ \t]*-[ \t]+name:/ {
        sub(/^[ \t]*-[ \t]+name:[ \t]*/, "")
        sub(/[ \t]+#.*$/, "")
        sub(/[ \t]+$/, "")
        if ($0 ~ /^".*"$/ || $0 ~ /^\047.*\047$/)
            $0 = substr($0, 2, length($0) - 2)
        if ($0 != "")
            print
    }' $file 2>/dev/null
end

# True when the word before the one being completed is --import's format.
function __yubin_after_import_format
    set -l tokens (commandline -opc)
    test (count $tokens) -ge 2; and test "$tokens[-2]" = --import
end

complete -c yubin -f
complete -c yubin -n 'not __yubin_after_import_format' -a '(__yubin_accounts)' -d account
complete -c yubin -n __yubin_after_import_format -F
complete -c yubin -s c -l config -r -F -d 'account file'
complete -c yubin -s v -l verbose -d 'say more (repeat for debug and protocol trace)'
complete -c yubin -s q -l quiet -d 'print errors only'
complete -c yubin -s n -l dry-run -d 'connect and count new messages; change nothing'
complete -c yubin -s j -l jobs -x -d 'fetch up to N accounts in parallel'
complete -c yubin -l shard -x -a auto -d 'fetch only the accounts of shard K (from 0) of N'
complete -c yubin -l json -d 'print one JSON summary object on standard output'
complete -c yubin -l syslog -d 'log to syslog instead of stderr'
complete -c yubin -l progress -d 'show a progress line'
complete -c yubin -l no-progress -d 'show no progress line'
complete -c yubin -l show-cert -d 'print the server certificates and fingerprints'
complete -c yubin -l authorize -x -a '(__yubin_accounts)' -d 'obtain the OAuth2 refresh token of an account'
complete -c yubin -l list-folders -x -a '(__yubin_accounts)' -d 'print the folders of an IMAP account'
complete -c yubin -l check -d 'walk each account\'s setup step by step; fetch nothing'
complete -c yubin -l ask-password -d 'ask on the terminal for passwords'
complete -c yubin -l watch -d 'fetch, then again as new mail arrives, until stopped'
complete -c yubin -l force -d 'let push_deletions delete more than its share of a folder'
complete -c yubin -l accept-new-uidls -x -a '(__yubin_accounts)' -d 'let a POP3 account take renumbered UIDLs'
complete -c yubin -l import -x -a 'fetchmailrc mbsyncrc mpoprc getmailrc' -d 'print the account file for another tool'
complete -c yubin -s h -l help -d 'show the help and exit'
complete -c yubin -l version -d 'show the version and exit'
