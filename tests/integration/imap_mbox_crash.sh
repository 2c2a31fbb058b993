#!/bin/bash
# mbox_crash.sh with IMAP: every durability step killed, into an mbox.
CRASH_PROTOCOL=imap exec bash "$(dirname "$0")/mbox_crash.sh"
