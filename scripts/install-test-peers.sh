#!/bin/sh
# Install the real QUIC peers and the dissector the interop tests (tests/interop) run against:
# ngtcp2's example client and server (gtlsclient, gtlsserver) and tshark.  Idempotent: does
# nothing when all three are already installed.  Installs with apt-get when run as root; otherwise
# prints the command to run and exits 1.
set -eu

missing=""
for program in gtlsclient gtlsserver tshark; do
    # gtlsserver lives in /usr/sbin, which is not on every user's PATH
    if ! command -v "$program" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$program" ]; then
        missing="$missing $program"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi

packages="ngtcp2-client ngtcp2-server tshark"
command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $packages"
if [ "$(id -u)" -eq 0 ]; then
    echo "install-test-peers: installing$missing ($packages)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y $packages
    exit 0
fi
echo "install-test-peers: missing:$missing" >&2
echo "install-test-peers: the interop tests need them; as root, run:" >&2
echo "    $command" >&2
exit 1
