#!/bin/sh
# Replays every stored imap_session fuzz input (corpus and crashes); TAP.
. "$(dirname "$0")/replay.sh"
fuzz_replay imap_session
