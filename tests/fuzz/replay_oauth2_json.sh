#!/bin/sh
# Replays every stored oauth2_json fuzz input (corpus and crashes); TAP.
. "$(dirname "$0")/replay.sh"
fuzz_replay oauth2_json
