#!/bin/bash
# The short torture run of make check: a few iterations of torture.sh, one
# for each protocol and sink pair (see tests/torture/README).
TORTURE_ITERATIONS=${TORTURE_CHECK_ITERATIONS:-6} exec bash "$(dirname "$0")/torture.sh"
