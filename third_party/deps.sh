#!/bin/sh
# Installs the Debian packages ngrokd builds and tests with, and the deb-src
# entry that third_party/fetch.sh takes lwIP and wolfSSL sources from.
# Idempotent: a machine that already has everything is left alone.
set -eu

pkgs="build-essential pkg-config dpkg-dev xz-utils ca-certificates autoconf automake libtool
libcurl4-openssl-dev libyaml-dev libcjson-dev libcmocka-dev
openssl libssl-dev curl iproute2 tshark tcpdump netcat-openbsd
clang python3 procps psmisc util-linux file iputils-ping bc python3-prometheus-client groff man-db bind9-dnsutils"

srclist=/etc/apt/sources.list.d/ngrokd-trixie-src.sources
need_update=0

if [ ! -f "$srclist" ]; then
	cat > "$srclist" <<'SRC'
# Added by ngrokd's build (third_party/deps.sh): only source packages are
# taken from trixie (lwIP 2.2.1, wolfSSL 5.7.2); binaries stay bookworm's.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	need_update=1
fi

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done

if [ -n "$missing" ] || [ "$need_update" = 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: missing packages:$missing; run as root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
fi
if [ -n "$missing" ]; then
	echo "deps.sh: installing$missing"
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		debconf-set-selections
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
