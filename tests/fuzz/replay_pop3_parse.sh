#!/bin/sh
# Replays every stored pop3_parse fuzz input (corpus and crashes); TAP.
. "$(dirname "$0")/replay.sh"
fuzz_replay pop3_parse
