#!/bin/sh
# Replays every stored utf7 fuzz input (corpus and crashes); TAP.
. "$(dirname "$0")/replay.sh"
fuzz_replay utf7
