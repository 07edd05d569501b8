#!/bin/bash
# The DNS responder inside the stack (dns.enabled): dig inside a private
# namespace against subnet+2, through the TUN device and lwIP.
set -u
. tests/lib/tap.sh
. tests/lib/certs.sh
. tests/lib/dp.sh
dp_init dns

dp_ingress
ip netns exec $NS $B/tests/fake/dp_harness --ingress 127.0.0.1:$IP --cert $T/pki/client.pem \
	--key $T/pki/client.key --insecure --dns \
	--endpoint my-api.ngrok.app:80=10.107.0.3 --endpoint my-api.ngrok.app:443=10.107.0.3 \
	--endpoint other.example:8080=10.107.0.4 --endpoint '*.apps.example:80=10.107.0.5' --endpoint '*.internal:80=10.107.0.6' \
	> $T/h.out 2>$T/h.err &
HP=$!
_pids="$_pids $HP"
check "the data path with DNS comes up" wait_for 5 grep -q ready $T/h.out
dig_() { in_ns dig +time=2 +tries=1 @10.107.0.2 "$@"; }

check "A my-api.ngrok.app is the endpoint's address" test "$(dig_ +short my-api.ngrok.app)" = 10.107.0.3
check "names are case-insensitive" test "$(dig_ +short OTHER.Example)" = 10.107.0.4
check "over TCP too" test "$(dig_ +tcp +short my-api.ngrok.app)" = 10.107.0.3
out=$(dig_ my-api.ngrok.app AAAA)
check "AAAA for a managed name is NODATA (NOERROR, no answer)" \
	sh -c "printf '%s' '$out' | grep -q 'status: NOERROR' && printf '%s' '$out' | grep -q 'ANSWER: 0'"
check "an unknown name is REFUSED" sh -c "dig_() { ip netns exec $NS dig +time=2 +tries=1 @10.107.0.2 \"\$@\"; }; dig_ example.com | grep -q 'status: REFUSED'"
check "a name under a wildcard endpoint is managed (NODATA: dp_harness has no discovery to give it an address; 91_wildcard does)" \
	sh -c "ip netns exec $NS dig +time=2 +tries=1 @10.107.0.2 a.apps.example | grep -q 'status: NOERROR'"
check "a wildcard over one label (*.internal) is not served: a.internal is REFUSED" \
	sh -c "ip netns exec $NS dig +time=2 +tries=1 @10.107.0.2 a.internal | grep -q 'status: REFUSED'"
# The gateway is the kernel's own address: lwIP never sees packets for it,
# the daemon's kernel sockets answer there (92_dns_gateway.sh tests more).
check "10.107.0.1 (the gateway, kernel sockets) answers the same" \
	test "$(in_ns dig +time=2 +tries=1 @10.107.0.1 +short my-api.ngrok.app)" = 10.107.0.3
in_ns python3 - <<'PY'
import socket, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in [b"", b"\x00", os.urandom(11), os.urandom(12), os.urandom(600),
          b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
          b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3f" + b"a" * 10]:
    s.sendto(p, ("10.107.0.2", 53))
PY
check "after malformed queries the responder still answers" test "$(dig_ +short my-api.ngrok.app)" = 10.107.0.3
check "dp_harness is still running" kill -0 $HP
tap_done
