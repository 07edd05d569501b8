#!/bin/bash
# DNS at the gateway address (10.107.0.1, the kernel's own: answered from
# the daemon's kernel sockets, daemon/dnsgw.c) and forwarding to
# dns.upstream (daemon/dnsfwd.c), inside a private namespace with the data
# path harness and a fake upstream (tests/fake/dns_upstream.py).
set -u
. tests/lib/tap.sh
. tests/lib/certs.sh
. tests/lib/dp.sh
dp_init dgw
# dig_ SERVER ARGS...: one try, 3 s.
dig_() { local s=$1; shift; in_ns dig +time=3 +tries=1 @"$s" "$@"; }
status_is() { dig_ "$2" "${@:3}" | grep -q "status: $1"; }

dp_ingress

# harness NAME ARGS...: starts the data path with DNS (not in a subshell:
# it sets HP and _pids).
harness() {
	local n=$1; shift
	ip netns exec $NS $B/tests/fake/dp_harness --ingress 127.0.0.1:$IP --cert $T/pki/client.pem \
		--key $T/pki/client.key --insecure --dns \
		--endpoint my-api.ngrok.app:80=10.107.0.3 \
		--endpoint other.example:8080=10.107.0.4 "$@" > $T/$n.out 2>$T/$n.err &
	HP=$!
	_pids="$_pids $HP"
}
stop_harness() {
	kill $HP 2>/dev/null
	for _ in $(seq 50); do kill -0 $HP 2>/dev/null || break; sleep 0.1; done
	# The device goes with the process; the next harness reuses its name.
	wait_for 5 sh -c "! ip -n $NS link show ngrokd0 >/dev/null 2>&1"
}

# --- 1. the gateway, no upstream ----------------------------------------------
harness a
check "the data path with DNS comes up" wait_for 5 grep -q ready $T/a.out
check "UDP and TCP port 53 are bound to 10.107.0.1 only (never 0.0.0.0)" sh -c "
	ip netns exec $NS ss -Hlun 'sport = :53' | grep -q ' 10.107.0.1:53 ' &&
	ip netns exec $NS ss -Hltn 'sport = :53' | grep -q ' 10.107.0.1:53 ' &&
	! ip netns exec $NS ss -Hluntn 'sport = :53' | grep -Eq ' (0.0.0.0|\*):53 '"
check "dig @10.107.0.1 my-api.ngrok.app answers the endpoint's address" \
	test "$(dig_ 10.107.0.1 +short my-api.ngrok.app)" = 10.107.0.3
check "dig +tcp @10.107.0.1 answers it too" \
	test "$(dig_ 10.107.0.1 +tcp +short MY-API.ngrok.app)" = 10.107.0.3
check "dig @10.107.0.2 (lwIP) still answers" \
	test "$(dig_ 10.107.0.2 +short other.example)" = 10.107.0.4
out=$(dig_ 10.107.0.1 my-api.ngrok.app AAAA)
check "AAAA at the gateway is NODATA" sh -c "printf '%s' '$out' | grep -q 'status: NOERROR' &&
	printf '%s' '$out' | grep -q 'ANSWER: 0,' && printf '%s' '$out' | grep -q 'flags: qr aa'"
check "an unknown name is REFUSED at 10.107.0.1 without dns.upstream" status_is REFUSED 10.107.0.1 example.com
check "... over TCP too" status_is REFUSED 10.107.0.1 +tcp example.com
check "... and at 10.107.0.2" status_is REFUSED 10.107.0.2 example.com

in_ns python3 - > $T/mal.out 2>&1 <<'PY'
import os, socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in [b"", b"\x00", os.urandom(11), os.urandom(12), os.urandom(600),
          os.urandom(1400),
          b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01",
          b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
          b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3f" + b"a" * 10]:
    s.sendto(p, ("10.107.0.1", 53))
# A header-readable broken query gets FORMERR with its id.
s.settimeout(3)
s.sendto(b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
         ("10.107.0.1", 53))
while True:
    r = s.recv(600)
    if r[:2] == b"\xbe\xef":
        break
print("formerr" if len(r) == 12 and r[3] & 0xf == 1 else "bad %r" % r)
# TCP: a length over 512 closes the connection; so does garbage; a split
# query is answered once whole.
for junk in [b"\xff\xff" + os.urandom(100), b"\x00", os.urandom(3000)]:
    c = socket.create_connection(("10.107.0.1", 53), timeout=3)
    try:
        c.sendall(junk)
        c.shutdown(socket.SHUT_WR)
        while c.recv(4096):
            pass
    except OSError:		# reset, or closed before the shutdown
        pass
    c.close()
q = (b"\x77\x77\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" +
     b"\x06my-api\x05ngrok\x03app\x00\x00\x01\x00\x01")
c = socket.create_connection(("10.107.0.1", 53), timeout=3)
m = struct.pack(">H", len(q)) + q
c.sendall(m[:5]); time.sleep(0.2); c.sendall(m[5:])
n = struct.unpack(">H", c.recv(2))[0]
r = b""
while len(r) < n:
    r += c.recv(n - len(r))
print("tcp-split" if r[:2] == b"\x77\x77" and r[-4:] == bytes([10, 107, 0, 3]) else "bad %r" % r)
PY
check "a header-readable broken datagram to 10.107.0.1 gets FORMERR" grep -q formerr $T/mal.out
check "a query split over two TCP segments is answered" grep -q tcp-split $T/mal.out
check "after malformed UDP and TCP input the gateway still answers" \
	test "$(dig_ 10.107.0.1 +short my-api.ngrok.app)" = 10.107.0.3

# 16 TCP connections at most: the 17th is closed at once; the others work.
in_ns python3 - > $T/lim.out 2>&1 <<'PY'
import socket, struct, time
cs = [socket.create_connection(("10.107.0.1", 53), timeout=3) for _ in range(16)]
time.sleep(0.3)
x = socket.create_connection(("10.107.0.1", 53), timeout=3)
try:
    print("17th:", "closed" if x.recv(10) == b"" else "open")
except ConnectionResetError:
    print("17th: closed")
except socket.timeout:
    print("17th: open")
q = (b"\x01\x02\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" +
     b"\x05other\x07example\x00\x00\x01\x00\x01")
c = cs[15]
c.sendall(struct.pack(">H", len(q)) + q)
print("16th:", "answers" if c.recv(200)[-4:] == bytes([10, 107, 0, 4]) else "broken")
PY
check "the 17th TCP connection at the gateway is closed, the 16th answers" \
	sh -c "grep -q '17th: closed' $T/lim.out && grep -q '16th: answers' $T/lim.out"
check "with them closed, TCP at the gateway answers again" \
	test "$(dig_ 10.107.0.1 +tcp +short my-api.ngrok.app)" = 10.107.0.3

# The device deleted and recreated (the harness's 1 s tick): the gateway's
# sockets are bound again.
in_ns ip link del ngrokd0
check "the device is recreated" wait_for 5 grep -q "ngrokd0 is back" $T/a.err
check "after the device came back, dig @10.107.0.1 answers" \
	wait_for 5 sh -c "test \"\$(ip netns exec $NS dig +time=1 +tries=1 @10.107.0.1 +short my-api.ngrok.app)\" = 10.107.0.3"
check "... and dig +tcp @10.107.0.1" \
	test "$(dig_ 10.107.0.1 +tcp +short my-api.ngrok.app)" = 10.107.0.3
check "the harness is still running" kill -0 $HP
stop_harness

# --- 2. dns.listen_gateway off ------------------------------------------------
harness b --no-dns-gateway
check "with --no-dns-gateway the data path comes up" wait_for 5 grep -q ready $T/b.out
check "nothing listens on port 53 on the host" \
	sh -c "test -z \"\$(ip netns exec $NS ss -Hluntn 'sport = :53')\""
check "10.107.0.2 answers" test "$(dig_ 10.107.0.2 +short my-api.ngrok.app)" = 10.107.0.3
stop_harness

# --- 3. dns.upstream ------------------------------------------------------------
ip netns exec $NS python3 tests/fake/dns_upstream.py --listen 127.0.0.1:5300 --log $T/up.log > $T/up.out 2>&1 &
UP=$!
_pids="$_pids $UP"
wait_for 5 grep -q listening $T/up.out
: > $T/up.log
# MTU 1280: big.example's 1,700-byte reply does not fit a UDP reply from lwIP.
harness c --dns-upstream 127.0.0.1:5300 --mtu 1280
check "the data path with an upstream comes up" wait_for 5 grep -q ready $T/c.out
check "dig @10.107.0.2 example.com gets the upstream's answer" \
	test "$(dig_ 10.107.0.2 +short example.com)" = 192.0.2.7
check "dig @10.107.0.1 example.com gets it too" \
	test "$(dig_ 10.107.0.1 +short EXAMPLE.com)" = 192.0.2.7
check "over TCP at 10.107.0.2" test "$(dig_ 10.107.0.2 +tcp +short example.com)" = 192.0.2.7
check "over TCP at 10.107.0.1" test "$(dig_ 10.107.0.1 +tcp +short example.com)" = 192.0.2.7
check "the upstream saw each of the 4 queries once" test "$(grep -c '^example.com ' $T/up.log)" = 4
check "each from a source port of its own" test "$(awk '{print $2}' $T/up.log | sort -u | wc -l)" = 4
check "managed names are still answered locally (not forwarded)" sh -c "
	test \"\$(ip netns exec $NS dig +time=3 +tries=1 @10.107.0.1 +short my-api.ngrok.app)\" = 10.107.0.3 &&
	test \"\$(ip netns exec $NS dig +time=3 +tries=1 @10.107.0.2 +short my-api.ngrok.app AAAA)\" = '' &&
	! grep -q my-api $T/up.log"
check "the upstream's NXDOMAIN is relayed" status_is NXDOMAIN 10.107.0.2 nosuch.example
check "a reply to another question is ignored: SERVFAIL" status_is SERVFAIL 10.107.0.1 wrongq.example
check "a reply with the wrong id is ignored, the right one relayed" \
	test "$(dig_ 10.107.0.2 +short spoof.example)" = 192.0.2.8

t0=$(date +%s%N)
out=$(in_ns dig +time=8 +tries=1 @10.107.0.2 silent.example)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if printf '%s' "$out" | grep -q "status: SERVFAIL" && [ $ms -ge 1500 ] && [ $ms -lt 4000 ]; then
	ok "a silent upstream: SERVFAIL after the 2 s timeout ($ms ms)"
else
	notok "a silent upstream: SERVFAIL after the 2 s timeout" "$ms ms: $(printf '%s' "$out" | grep status)"
fi
t0=$(date +%s%N)
out=$(in_ns dig +time=8 +tries=1 +tcp @10.107.0.1 silent.example)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if printf '%s' "$out" | grep -q "status: SERVFAIL" && [ $ms -lt 4000 ]; then
	ok "... over TCP at the gateway too ($ms ms)"
else
	notok "... over TCP at the gateway too" "$ms ms: $(printf '%s' "$out" | grep status)"
fi
check "after the timeouts the responder still answers" sh -c "
	test \"\$(ip netns exec $NS dig +time=3 +tries=1 @10.107.0.2 +short example.com)\" = 192.0.2.7 &&
	test \"\$(ip netns exec $NS dig +time=3 +tries=1 @10.107.0.1 +short my-api.ngrok.app)\" = 10.107.0.3"

check "a reply larger than the MTU reaches a UDP client of 10.107.0.2 truncated (TC)" \
	sh -c "ip netns exec $NS dig +time=3 +tries=1 +ignore @10.107.0.2 big.example | grep -q 'flags: qr tc'"
check "... and whole over TCP (100 records)" \
	test "$(dig_ 10.107.0.2 +tcp +short big.example | wc -l)" = 100
check "dig without +ignore retries over TCP by itself" \
	test "$(dig_ 10.107.0.2 +short big.example | wc -l)" = 100

# The upstream gone: its ICMP port unreachable gives SERVFAIL at once.
kill $UP
wait $UP 2>/dev/null
t0=$(date +%s%N)
out=$(in_ns dig +time=8 +tries=1 @10.107.0.1 example.com)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if printf '%s' "$out" | grep -q "status: SERVFAIL" && [ $ms -lt 1500 ]; then
	ok "an upstream that is not listening: SERVFAIL at once ($ms ms)"
else
	notok "an upstream that is not listening: SERVFAIL at once" "$ms ms: $(printf '%s' "$out" | grep status)"
fi
check "the harness is still running" kill -0 $HP
check "it logged no error" sh -c "! grep -Ei 'error|assert' $T/c.err"
tap_done
