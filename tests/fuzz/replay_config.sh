#!/bin/sh
# Replays every stored config fuzz input (corpus and crashes); TAP.
. "$(dirname "$0")/replay.sh"
fuzz_replay config
