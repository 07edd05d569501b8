#!/bin/bash
# 30_tunnel.sh: the data path and the tunnel end to end, without discovery:
# tests/fake/dp_harness (TUN device + lwIP + the real wolfSSL tunnel) in a
# private network namespace, the fake OpenSSL ingress (tests/fake/ingress)
# on the namespace's 127.0.0.1 requiring client certificates, and backends
# behind it (python3 http.server, a tiny upload checker, blast).
#
# The ingress certificate is for ingress.test; dp_harness resolves and
# verifies that name.  The name resolves through a temporary hosts file
# bind-mounted over /etc/hosts in a private mount namespace (unshare -m)
# that exists only for the processes of this test: the machine's
# /etc/hosts is never touched.
#
# Checks: plain requests, 100 MB each way (sha256), 20 in parallel, the
# ConnRequest host/port seen by the ingress, each ingress fault (reset or
# close, a log line naming the endpoint, still serving, no leaked stream or
# session or fd), untrusted client certificate, untrusted ingress CA, RST
# for an unallocated address, ping, the pcap, 1,000 connections.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/certs.sh

DP=$OUT/tests/fake/dp_harness
INGRESS=$OUT/tests/fake/ingress
BLAST=$OUT/tests/fake/blast
NS=ngrokdtest-$$-tn
T=$(mktemp -d /tmp/ngrokdtest-30.XXXXXX)
at_exit "[ -n \"${KEEP:-}\" ] || rm -rf '$T'"

skip_all() { echo "ok 1 - tunnel tests # SKIP $1"; echo "1..1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "needs root"
[ -c /dev/net/tun ] || skip_all "no /dev/net/tun"
for b in "$DP" "$INGRESS" "$BLAST"; do
	[ -x "$b" ] || { notok "$b is built" "missing (make test-build)"; tap_done; exit 0; }
done
for c in curl python3 openssl unshare tshark sha256sum; do
	command -v $c >/dev/null || skip_all "$c missing"
done

certs_make "$T/c" ingress.test 2>"$T/certs.err" ||
	{ notok "test certificates made" "$(cat "$T/certs.err")"; tap_done; exit 0; }
C=$T/c
printf '127.0.0.1\tlocalhost\n127.0.0.1\tingress.test\n' > "$T/hosts"

netns_new "$NS" || { notok "create namespace $NS" "ip netns add failed"; tap_done; exit 0; }
# Runs a command in the namespace with $T/hosts as its /etc/hosts.  Every
# step execs, so $! of "NSX... prog &" is prog's own PID.
NSX=(ip netns exec "$NS" unshare -m --propagation private
	sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts")
nsx() { "${NSX[@]}" "$@"; }

# --- backends -----------------------------------------------------------------
mkdir -p "$T/www"
echo "hello from the backend $$" > "$T/www/index.html"
head -c 100000000 /dev/urandom > "$T/www/big"
BIG_SHA=$(sha256sum < "$T/www/big" | cut -d' ' -f1)

# PUT: reads the body, answers "<sha256> <bytes>".
cat > "$T/up.py" <<'EOF'
import hashlib, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        h, got = hashlib.sha256(), 0
        while got < n:
            b = self.rfile.read(min(1 << 20, n - got))
            if not b:
                break
            h.update(b)
            got += len(b)
        body = ("%s %d\n" % (h.hexdigest(), got)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

s = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.daemon_threads = True
print("listening", flush=True)
s.serve_forever()
EOF

bg "${NSX[@]}" python3 -m http.server --bind 127.0.0.1 --directory "$T/www" 8080 \
	>"$T/http.out" 2>"$T/http.err" </dev/null
bg "${NSX[@]}" python3 "$T/up.py" 8081 >"$T/up.out" 2>"$T/up.err" </dev/null
bg "${NSX[@]}" "$BLAST" server 127.0.0.1:9000 >"$T/blast.out" 2>"$T/blast.err" </dev/null
wait_for 10 nsx curl -sf -o /dev/null http://127.0.0.1:8080/ &&
	wait_for 5 grep -q listening "$T/up.out" &&
	wait_for 5 grep -q listening "$T/blast.out" ||
	{ notok "backends start" "$(cat "$T"/http.err "$T"/up.err "$T"/blast.err)"; tap_done; exit 0; }

# --- the ingress ----------------------------------------------------------------
ING_PID=
ING_N=0
# start_ingress [--fault F]...: (re)starts the fake ingress on 127.0.0.1:4443.
start_ingress() {
	stop_ingress
	ING_N=$((ING_N + 1))
	bg "${NSX[@]}" "$INGRESS" --listen 127.0.0.1:4443 \
		--cert "$C/ingress.pem" --key "$C/ingress.key" --client-ca "$C/client-ca.pem" \
		--route my-api.test:80=127.0.0.1:8080 --route up.test:80=127.0.0.1:8081 \
		--route blast.test:80=127.0.0.1:9000 --log "$T/ingress.log" "$@" \
		>"$T/ing$ING_N.out" 2>"$T/ing$ING_N.err" </dev/null
	ING_PID=$BG_PID
	wait_for 5 grep -q '^listening' "$T/ing$ING_N.out"
}
stop_ingress() {
	[ -n "$ING_PID" ] || return 0
	kill "$ING_PID" 2>/dev/null
	wait "$ING_PID" 2>/dev/null
	ING_PID=
}

# --- dp_harness -----------------------------------------------------------------
DP_PID=
DP_N=0
# start_dp [ARGS]...: (re)starts dp_harness with the three endpoints.
start_dp() {
	stop_dp
	DP_N=$((DP_N + 1))
	DPOUT=$T/dp$DP_N.out DPERR=$T/dp$DP_N.err
	bg "${NSX[@]}" "$DP" --ingress ingress.test:4443 --header-timeout 1500 \
		--endpoint my-api.test:80=10.107.0.3 --endpoint up.test:80=10.107.0.4 \
		--endpoint blast.test:80=10.107.0.5 "$@" >"$DPOUT" 2>"$DPERR" </dev/null
	DP_PID=$BG_PID
	wait_for 5 grep -q '^ready' "$DPOUT"
}
stop_dp() {
	[ -n "$DP_PID" ] || return 0
	kill "$DP_PID" 2>/dev/null
	wait "$DP_PID" 2>/dev/null
	DP_RC=$?
	DP_PID=
}
GOOD=(--cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca.pem")

# stats: asks dp_harness for its counters, prints the newest stats line.
stats() {
	local n
	n=$(grep -c '^stats' "$DPOUT")
	kill -USR1 "$DP_PID" 2>/dev/null || return 1
	for _ in $(seq 20); do
		[ "$(grep -c '^stats' "$DPOUT")" -gt "$n" ] && break
		sleep 0.05
	done
	grep '^stats' "$DPOUT" | tail -1
}
# idle: true once dp_harness holds no stream and no session (waits up to 5 s).
idle() {
	for _ in $(seq 50); do
		stats | grep -q 'active=0 .*sessions=0 ' && return 0
		sleep 0.1
	done
	return 1
}
nfds() { ls "/proc/$DP_PID/fd" 2>/dev/null | wc -l; }
# newlog FROM: dp_harness's stderr from line FROM on.
newlog() { tail -n +"$1" "$DPERR"; }
loglines() { wc -l < "$DPERR"; }
# timed CMD...: runs CMD, sets RC, SECS (wall time, 0.1 s) and OUTPUT.
timed() {
	local s e
	s=$(date +%s%N)
	OUTPUT=$("$@" 2>&1)
	RC=$?
	e=$(date +%s%N)
	SECS=$(( (e - s) / 100000000 ))	# tenths
	SECS=$((SECS / 10)).$((SECS % 10))
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

start_ingress || { notok "fake ingress starts" "$(cat "$T/ing$ING_N.err")"; tap_done; exit 0; }

# === 1. basics, with a pcap =======================================================
start_dp "${GOOD[@]}" --pcap "$T/dp.pcap"
check "dp_harness starts (device ready)" grep -qx 'ready ngrokd0' "$DPOUT"
[ -n "$DP_PID" ] && [ "$(cat /proc/$DP_PID/comm 2>/dev/null)" = dp_harness ] ||
	notok "dp_harness PID is tracked" "pid $DP_PID is $(cat /proc/$DP_PID/comm 2>/dev/null)"

out=$(nsx curl -sS -m 10 http://10.107.0.3/ 2>&1)
if [ "$out" = "hello from the backend $$" ]; then ok "curl http://10.107.0.3/ gets the backend's page"
else notok "curl http://10.107.0.3/ gets the backend's page" "got: $out; $(tail -3 "$DPERR")"; fi
check "the ingress saw ConnRequest host=my-api.test port=80" \
	grep -q 'host=my-api.test port=80 result=ok' "$T/ingress.log"
check "no host:port form ever reached the ingress" \
	eval '! grep -q "host=[^ ]*:" "$T/ingress.log"'

check "ping 10.107.0.3 is answered" nsx ping -c1 -W2 10.107.0.3
# connect(2) itself says how it failed: ECONNREFUSED means a RST came back
# (curl words it differently from version to version).  The time is that
# of connect(2) alone: python's own start-up is slow on a loaded machine.
# A lost RST would show as a SYN retransmission (1 s) or a timeout (8 s).
connect_err() {
	nsx python3 -c '
import socket, sys, time
t = time.monotonic()
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 8).close()
    print("connected", end="")
except OSError as e:
    print(type(e).__name__, end="")
print(" %.1f" % (time.monotonic() - t))' "$@"
}
refused() {	# refused HOST PORT DESCRIPTION
	local out secs
	out=$(connect_err "$1" "$2" 2>&1)
	secs=${out##* }
	if [ "${out% *}" = ConnectionRefusedError ] && lt "$secs" 1; then
		ok "$3 (${secs}s)"
	else
		notok "$3" "got: $out"
	fi
}
refused 10.107.0.99 80 "SYN to an unallocated 10.107.0.99:80 is refused at once (RST)"
refused 10.107.0.3 81 "SYN to an allocated address on a port without an endpoint is refused at once"

stop_dp
check "dp_harness exits 0 on SIGTERM" test "$DP_RC" = 0
check "SIGTERM leaves no ngrokd0 device" eval '! ip -n "$NS" link show ngrokd0 >/dev/null 2>&1'
hs=$(tshark -r "$T/dp.pcap" -Y 'ip.dst == 10.107.0.3 && tcp.port == 80 && tcp.flags.syn == 1 && tcp.flags.ack == 0' 2>/dev/null | wc -l)
sa=$(tshark -r "$T/dp.pcap" -Y 'ip.src == 10.107.0.3 && tcp.port == 80 && tcp.flags.syn == 1 && tcp.flags.ack == 1' 2>/dev/null | wc -l)
check "pcap: TCP handshake with 10.107.0.3:80 (SYN and SYN-ACK)" \
	eval '[ "$hs" -ge 1 ] && [ "$sa" -ge 1 ]'
req=$(tshark -r "$T/dp.pcap" -Y 'http.request && ip.dst == 10.107.0.3' \
	-T fields -e http.request.method -e http.request.uri -e http.host 2>/dev/null | head -1)
check "pcap: the HTTP request GET / Host 10.107.0.3" \
	test "$req" = "$(printf 'GET\t/\t10.107.0.3')"
rst=$(tshark -r "$T/dp.pcap" -Y 'ip.src == 10.107.0.99 && tcp.flags.reset == 1' 2>/dev/null | wc -l)
check "pcap: the RST from 10.107.0.99" test "$rst" -ge 1
icmp=$(tshark -r "$T/dp.pcap" -Y 'icmp.type == 0 && ip.src == 10.107.0.3' 2>/dev/null | wc -l)
check "pcap: the echo reply from 10.107.0.3" test "$icmp" -ge 1

# === 1b. without offload (net.offload: false) ====================================
# Full TCP checksums in software and one packet per segment (stack/tx.c).
start_dp "${GOOD[@]}" --no-offload
check "--no-offload: the device comes up without segmentation offload" \
	eval 'grep -q "ngrokd0 up" "$DPERR" && ! grep -q "segmentation offload" "$DPERR"'
timed nsx sh -c "curl -sS -m 60 http://10.107.0.3/big | sha256sum"
check "without offload: 100 MB download intact (sha256) in ${SECS}s" \
	test "$(cut -d' ' -f1 <<<"$OUTPUT")" = "$BIG_SHA"
timed nsx curl -sS -m 60 -T "$T/www/big" http://10.107.0.4/big
check "without offload: 100 MB upload intact in ${SECS}s" \
	test "$OUTPUT" = "$BIG_SHA 100000000"

# === 2. bulk ======================================================================
start_dp "${GOOD[@]}"
check "dp_harness restarts on the same device name" grep -qx 'ready ngrokd0' "$DPOUT"
FD0=$(nfds)

timed nsx sh -c "curl -sS -m 60 http://10.107.0.3/big | sha256sum"
got=$(cut -d' ' -f1 <<<"$OUTPUT")
check "100 MB download intact (sha256) in ${SECS}s" test "$got" = "$BIG_SHA"
check "with offload (the default): the device says so" grep -q "ngrokd0 up.*segmentation offload" "$DPERR"
timed nsx curl -sS -m 60 -T "$T/www/big" http://10.107.0.4/big
check "100 MB upload intact (sha256 and size at the backend) in ${SECS}s" \
	test "$OUTPUT" = "$BIG_SHA 100000000"

# 20 in parallel each way.
par() {
	local i
	for i in $(seq 20); do
		nsx sh -c "curl -sS -m 120 http://10.107.0.3/big | sha256sum > '$T/par.d$i'" &
		nsx sh -c "curl -sS -m 120 -T '$T/www/big' http://10.107.0.4/u$i > '$T/par.u$i'" &
	done
	wait
}
rm -f "$T"/par.*
timed par
bad=0
for i in $(seq 20); do
	[ "$(cut -d' ' -f1 "$T/par.d$i" 2>/dev/null)" = "$BIG_SHA" ] || bad=$((bad + 1))
	[ "$(cat "$T/par.u$i" 2>/dev/null)" = "$BIG_SHA 100000000" ] || bad=$((bad + 1))
done
check "20 downloads + 20 uploads of 100 MB in parallel all intact ($bad bad, ${SECS}s)" test "$bad" = 0

# (stderr apart: an ASan build of blast reports its own leaks there)
rate() { nsx "$BLAST" rate 10.107.0.5:80 1000 100 2>"$T/rate.err"; }
timed rate
check "1,000 connections, 100 at a time, all succeed ($OUTPUT)" \
	grep -q '^conns=1000 failed=0 ' <<<"$OUTPUT"
check "after the bulk: no stream and no session left (stats)" idle
st=$(stats)
check "stats count every stream (total >= 1042)" \
	test "$(sed -n 's/.* total=\([0-9]*\) .*/\1/p' <<<"$st")" -ge 1042
check "after the bulk: dp_harness holds as many fds as before ($FD0)" test "$(nfds)" = "$FD0"

# === 3. ingress faults ============================================================
# fault_case NAME MAXSECS URL FAULT-ARGS...: the request fails (non-zero curl,
# within MAXSECS), dp_harness logs a line naming the endpoint, then keeps
# serving once the ingress is healthy again, with nothing leaked.
fault_case() {
	local name=$1 max=$2 url=$3 from
	shift 3
	start_ingress "$@" || { notok "ingress with $name starts" "$(cat "$T/ing$ING_N.err")"; return; }
	from=$(($(loglines) + 1))
	timed nsx curl -sS -m 30 -o /dev/null "$url"
	if [ "$RC" != 0 ] && lt "$SECS" "$max"; then
		ok "$name: the request fails in ${SECS}s (< ${max}s): $(head -1 <<<"$OUTPUT")"
	else
		notok "$name: the request fails within ${max}s" "curl rc $RC after ${SECS}s: $OUTPUT"
	fi
	sleep 0.2
	if newlog "$from" | grep -q 'my-api.test:80 (ep_my-api.test_80)'; then
		ok "$name: log line names the endpoint: $(newlog "$from" | grep -m1 'my-api.test:80' | cut -c1-160)"
	else
		notok "$name: log line names the endpoint" "dp_harness stderr: $(newlog "$from" | tail -3)"
	fi
	start_ingress
	out=$(nsx curl -sS -m 10 http://10.107.0.3/ 2>&1)
	check "$name: the next connection is served" test "$out" = "hello from the backend $$"
	if idle && [ "$(nfds)" = "$FD0" ]; then
		ok "$name: no stream, session or fd left"
	else
		notok "$name: no stream, session or fd left" "$(stats); fds $(nfds), were $FD0"
	fi
}
fault_case refuse-handshake 3 http://10.107.0.3/ --fault refuse-handshake
fault_case no-tls 13 http://10.107.0.3/ --fault no-tls
fault_case close-after=1000000 5 http://10.107.0.3/big --fault close-after=1000000
fault_case "delay-header=4000 (header timeout 1.5 s)" 3.5 http://10.107.0.3/ --fault delay-header=4000
fault_case garbage-header 3 http://10.107.0.3/ --fault garbage-header
fault_case oversized-header 3 http://10.107.0.3/ --fault oversized-header

# An unknown host:port at the ingress: ERR_NGROK_3200, refused.
start_dp "${GOOD[@]}" --endpoint nowhere.test:80=10.107.0.9
from=1
timed nsx curl -sS -m 10 -o /dev/null http://10.107.0.9/
sleep 0.2
if [ "$RC" != 0 ] && lt "$SECS" 3 && newlog "$from" | grep 'nowhere.test:80' | grep -q 'ERR_NGROK_3200'; then
	ok "a refusal (ERR_NGROK_3200) resets the app's connection and is logged"
else
	notok "a refusal (ERR_NGROK_3200) resets the app's connection and is logged" \
		"curl rc $RC ${SECS}s: $OUTPUT; log: $(newlog "$from" | tail -2)"
fi

# === 4. certificates ==============================================================
start_dp --cert "$C/untrusted.pem" --key "$C/untrusted.key" --ca "$C/ca.pem"
from=1
timed nsx curl -sS -m 15 -o /dev/null http://10.107.0.3/
sleep 0.3
if [ "$RC" != 0 ] && lt "$SECS" 5; then
	ok "untrusted client certificate: the request fails (${SECS}s)"
else
	notok "untrusted client certificate: the request fails" "rc $RC after ${SECS}s: $OUTPUT"
fi
line=$(newlog "$from" | grep -m1 'my-api.test:80')
# The ingress answers with an alert (unknown_ca); the line must say that
# the client certificate was refused, not only that an alert came.
if grep -qiE 'certificate|unknown.ca|not trusted' <<<"$line"; then
	ok "untrusted client certificate: clear log line: $(cut -c1-200 <<<"$line")"
else
	notok "untrusted client certificate: clear log line (says the certificate was refused)" "log: $(newlog "$from" | tail -3)"
fi
check "untrusted client certificate: no stream or session left" idle

start_dp --cert "$C/client.pem" --key "$C/client.key" --ca "$C/untrusted-ca.pem"
timed nsx curl -sS -m 15 -o /dev/null http://10.107.0.3/
sleep 0.3
if [ "$RC" != 0 ] && lt "$SECS" 5; then
	ok "untrusted ingress CA: the request fails (${SECS}s)"
else
	notok "untrusted ingress CA: the request fails" "rc $RC after ${SECS}s: $OUTPUT"
fi
line=$(newlog 1 | grep -m1 'my-api.test:80')
if grep -qiE 'verif|certificate|trust' <<<"$line"; then
	ok "untrusted ingress CA: clear log line: $(cut -c1-200 <<<"$line")"
else
	notok "untrusted ingress CA: clear log line (says the ingress certificate is not trusted)" "log: $(newlog 1 | tail -3)"
fi
check "untrusted ingress CA: no stream or session left" idle

# A certificate for another name, from the trusted CA: the host name check.
openssl x509 -req -in <(openssl req -new -key "$C/ingress.key" -subj /CN=other.test 2>/dev/null) \
	-CA "$C/ca.pem" -CAkey "$C/ca.key" -days 2 -set_serial 77 \
	-extfile <(printf 'subjectAltName=DNS:other.test\nextendedKeyUsage=serverAuth\n') \
	-out "$T/other.pem" 2>/dev/null
stop_ingress
bg "${NSX[@]}" "$INGRESS" --listen 127.0.0.1:4443 --cert "$T/other.pem" --key "$C/ingress.key" \
	--client-ca "$C/client-ca.pem" --route my-api.test:80=127.0.0.1:8080 \
	>"$T/ingother.out" 2>"$T/ingother.err" </dev/null
ING_PID=$BG_PID
wait_for 5 grep -q '^listening' "$T/ingother.out"
start_dp "${GOOD[@]}"
timed nsx curl -sS -m 15 -o /dev/null http://10.107.0.3/
sleep 0.3
line=$(newlog 1 | grep -m1 'my-api.test:80')
if [ "$RC" != 0 ] && grep -qiE 'name|domain|verif' <<<"$line"; then
	ok "ingress certificate for another host name is refused: $(cut -c1-200 <<<"$line")"
else
	notok "ingress certificate for another host name is refused" "rc $RC: $OUTPUT; log: $(newlog 1 | tail -3)"
fi
stop_dp
stop_ingress

check "no sanitizer report from dp_harness" \
	eval '! cat "$T"/dp*.err | grep -qE "AddressSanitizer|LeakSanitizer|runtime error"'
tap_done
exit 0
