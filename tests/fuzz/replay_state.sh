#!/bin/sh
# Replays every stored state fuzz input (corpus and crashes); TAP.
. "$(dirname "$0")/replay.sh"
fuzz_replay state
