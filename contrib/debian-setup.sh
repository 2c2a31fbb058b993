#!/bin/sh
# Install what yubin needs on Debian (build, tests, demo, clang with
# libFuzzer for make fuzz, the peers make bench-check runs), build it, and
# run the demo fetch.  Run as root (or through sudo) from the source tree.
# Arguments are passed to ./configure (for example --enable-sanitizers).
set -eu

cd "$(dirname "$0")/.."

PACKAGES="build-essential autoconf automake pkg-config
  libssl-dev libyaml-dev libcurl4-openssl-dev libcmocka-dev
  dovecot-core dovecot-imapd dovecot-pop3d openssl faketime python3
  groff-base procps valgrind clang libclang-rt-dev curl
  bash-completion zsh fish systemd
  isync mpop fetchmail time"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PACKAGES

autoreconf -fi
./configure "$@"
make -j"$(nproc)"
make demo
