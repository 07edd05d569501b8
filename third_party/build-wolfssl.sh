#!/bin/sh
# build-wolfssl.sh SRC PREFIX: configures and builds wolfSSL with the
# features ngrokd needs and the x86-64 (or ARMv8) assembly speed-ups, as a
# static PIC library installed under PREFIX.
set -eu
src=$1
prefix=$2
case "$(uname -m)" in
x86_64|amd64)	arch="--enable-aesni --enable-intelasm --enable-sp-asm" ;;
aarch64|arm64)	arch="--enable-armasm --enable-sp-asm" ;;
*)		arch="" ;;
esac
cd "$src"
[ -x configure ] || ./autogen.sh
# AES-NI and the asm paths are chosen at run time (cpuid), so the library
# also runs on CPUs without them.
./configure -q --prefix="$prefix" --enable-static --disable-shared --with-pic \
	--disable-examples --disable-crypttests --disable-oldtls \
	--enable-tls13 --enable-session-ticket --enable-sni --enable-tlsx \
	--enable-ecc --enable-sp $arch --enable-chacha --enable-poly1305 \
	--enable-certgen --enable-certreq --enable-keygen --enable-certext \
	--enable-sys-ca-certs --enable-altcertchains \
	CFLAGS="-O2 -g -fPIC"
make -s -j"$(nproc)"
make -s install >/dev/null
