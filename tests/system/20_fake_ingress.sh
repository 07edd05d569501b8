#!/bin/bash
# 20_fake_ingress.sh: the fake ngrok binding ingress (tests/fake/ingress.c)
# that the tunnel tests rely on, checked against an independent client
# (Python's ssl module): mTLS with client certificates, ConnRequest /
# ConnResponse, the splice to a TCP backend with half-close, the --log
# line, and each --fault.  Loopback only; every process is killed by PID.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/certs.sh

INGRESS=$OUT/tests/fake/ingress
T=$(mktemp -d /tmp/ngrokd-ingress-test.XXXXXX)
at_exit "rm -rf '$T'"

if [ ! -x "$INGRESS" ]; then
	notok "fake ingress is built" "missing $INGRESS (make test-build)"
	tap_done
	exit 0
fi

# --- the client: builds the ConnRequest bytes itself ------------------------
cat > "$T/client.py" <<'EOF'
import argparse, socket, ssl, struct, sys, time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--ca", required=True)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--sni", default="ingress.test")
p.add_argument("--host", required=True)
p.add_argument("--hport", type=int, default=443)
p.add_argument("--http", action="store_true", help="GET / after the reply")
p.add_argument("--send", type=int, default=-1,
               help="send N bytes, half-close, read to EOF")
p.add_argument("--timeout", type=float, default=5)
a = p.parse_args()

def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7f) | 0x80]); v >>= 7
    return out + bytes([v])

def conn_request(host, port):
    h = host.encode()
    msg = b"\x0a" + varint(len(h)) + h + b"\x10" + varint(port)
    return struct.pack("<H", len(msg)) + msg

def parse_varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if not c & 0x80:
            return v, i

def parse_response(b):
    f = {1: "", 2: "", 3: "", 4: ""}
    notices = []
    i = 0
    while i < len(b):
        key, i = parse_varint(b, i)
        field, wt = key >> 3, key & 7
        if wt != 2 or field == 0:
            raise ValueError("unexpected wire type %d field %d" % (wt, field))
        n, i = parse_varint(b, i)
        v = b[i:i + n]; i += n
        if len(v) != n:
            raise ValueError("truncated")
        if field == 5:
            notices.append(v[2:].decode())
        elif field in f:
            f[field] = v.decode()
    return f, notices

class Tls:
    """TLS over a memory BIO, so the client can half-close (send
    close_notify and go on reading) and tell close_notify from a bare FIN."""
    def __init__(self, sock, ctx, sni):
        self.sock, self.inc, self.out = sock, ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=sni)
    def flush(self):
        d = self.out.read()
        if d:
            self.sock.sendall(d)
    def run(self, fn, *args):
        while True:
            try:
                r = fn(*args)
                self.flush()
                return r
            except ssl.SSLWantReadError:
                self.flush()
                d = self.sock.recv(65536)
                if d:
                    self.inc.write(d)
                else:
                    self.inc.write_eof()
    def read_exact(self, n):
        b = b""
        while len(b) < n:
            d = self.run(self.obj.read, n - len(b))
            if not d:
                break
            b += d
        return b
    def read_to_eof(self):
        b = b""
        try:
            while True:
                d = self.run(self.obj.read, 65536)
                if not d:
                    return b, "clean"
                b += d
        except ssl.SSLZeroReturnError:
            return b, "clean"
        except (ssl.SSLEOFError, ssl.SSLSyscallError, ConnectionError):
            return b, "ragged"
    def close_write(self):
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        self.flush()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(a.ca)
if a.cert:
    ctx.load_cert_chain(a.cert, a.key)
sock = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
t = Tls(sock, ctx, a.sni)
start = time.monotonic()
try:
    t.run(t.obj.do_handshake)
    print("tls", t.obj.version())
    t.run(t.obj.write, conn_request(a.host, a.hport))
    hdr = t.read_exact(2)
    if len(hdr) != 2:
        print("no-reply")
        sys.exit(3)
    (n,) = struct.unpack("<H", hdr)
    body = t.read_exact(n)
    print("frame-len %d got %d after %.2fs" % (n, len(body),
          time.monotonic() - start))
    try:
        f, notices = parse_response(body)
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        print("bad-reply", e)
        sys.exit(4)
    print("reply endpoint_id=%s proto=%s error_code=%s error_message=%s" %
          (f[1], f[2], f[3], f[4]))
    for x in notices:
        print("notice", x)
    if a.http:
        t.run(t.obj.write, b"GET /page.txt HTTP/1.0\r\nHost: x\r\n\r\n")
        data, how = t.read_to_eof()
        sys.stdout.write("data " + data.decode(errors="replace") + "\n")
        print("data-len", len(data))
        print("eof", how)
    if a.send >= 0:
        t.run(t.obj.write, b"x" * a.send) if a.send else None
        t.close_write()
        data, how = t.read_to_eof()
        print("data", data.decode(errors="replace").strip())
        print("eof", how)
except ssl.SSLError as e:
    print("tls-error", e)
    sys.exit(3)
except socket.timeout:
    print("timeout")
    sys.exit(5)
except ConnectionError as e:
    print("conn-error", e)
    sys.exit(3)
EOF

# --- a backend that answers "got N bytes" once its client half-closes -----
cat > "$T/count.py" <<'EOF'
import socket, sys, threading
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print("port", s.getsockname()[1], flush=True)
def serve(c):
    n = 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        n += len(d)
    c.sendall(b"got %d bytes\n" % n)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

certs_make "$T/certs" ingress.test >"$T/certs.log" 2>&1
check "test certificates made" test -s "$T/certs/untrusted.pem"
C=$T/certs

# HTTP backend with a page whose content this run chose.
mkdir -p "$T/www"
TOKEN="token-$$-$RANDOM$RANDOM"
{ echo "$TOKEN"; head -c 20000 /dev/zero | tr '\0' 'p'; echo; } > "$T/www/page.txt"
bg python3 -u -m http.server --bind 127.0.0.1 --directory "$T/www" 0 \
	>"$T/http.out" 2>"$T/http.err"
wait_for 10 grep -q 'port [0-9]' "$T/http.out"
HTTP_PORT=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$T/http.out" | head -1)
bg python3 -u "$T/count.py" >"$T/count.out" 2>&1
wait_for 10 grep -q '^port ' "$T/count.out"
COUNT_PORT=$(awk '/^port /{print $2}' "$T/count.out")
if [ -z "$HTTP_PORT" ] || [ -z "$COUNT_PORT" ]; then
	notok "backends started" "http: $(cat "$T/http.out" "$T/http.err"); count: $(cat "$T/count.out")"
	tap_done
	exit 0
fi
ok "backends started (http $HTTP_PORT, count $COUNT_PORT)"

# start_ingress NAME ARGS...: sets PORT_<NAME>, PID_<NAME>.
start_ingress() {
	local name=$1 port
	shift
	bg "$INGRESS" --listen 127.0.0.1:0 --cert "$C/ingress.pem" \
		--key "$C/ingress.key" --client-ca "$C/client-ca.pem" \
		--route "app.test:443=127.0.0.1:$HTTP_PORT" \
		--route "count.test:8080=127.0.0.1:$COUNT_PORT" \
		--route "down.test:443=127.0.0.1:1" \
		--log "$T/$name.log" "$@" >"$T/$name.out" 2>"$T/$name.err"
	eval "PID_$name=$BG_PID"
	if ! wait_for 10 grep -q '^listening [1-9]' "$T/$name.out"; then
		eval "PORT_$name="
		return 1
	fi
	port=$(awk '/^listening /{print $2}' "$T/$name.out")
	eval "PORT_$name=$port"
}

# client PORT ARGS...: runs the client with the trusted client cert.
client() {
	local port=$1
	shift
	timeout 30 python3 "$T/client.py" --port "$port" --ca "$C/ca.pem" "$@"
}

expect() {	# expect "what" FILE PATTERN: grep -E PATTERN FILE
	if grep -qE -- "$3" "$2"; then
		ok "$1"
	else
		notok "$1" "expected /$3/ in: $(head -c 600 "$2")"
	fi
}

expect_not() {
	if grep -qE -- "$3" "$2"; then
		notok "$1" "unexpected /$3/ in: $(head -c 600 "$2")"
	else
		ok "$1"
	fi
}

if start_ingress main; then
	ok "ingress prints its ephemeral port ($PORT_main)"
else
	notok "ingress prints its ephemeral port" "$(cat "$T/main.out" "$T/main.err")"
	tap_done
	exit 0
fi
P=$PORT_main
CERT=(--cert "$C/client.pem" --key "$C/client.key")

# 1. ok reply, then HTTP through the splice, closed with close_notify
client "$P" "${CERT[@]}" --host app.test --http >"$T/ok.out" 2>&1
expect "ok reply names the endpoint" "$T/ok.out" \
	'^reply endpoint_id=ep_app.test proto=http error_code= error_message=$'
expect "TLS 1.3 is negotiated" "$T/ok.out" '^tls TLSv1.3$'
expect "HTTP response comes through the splice" "$T/ok.out" '^data HTTP/1.0 200 '
expect "the response carries this run's page" "$T/ok.out" "^$TOKEN\$"
size=$(awk '/^data-len /{print $2}' "$T/ok.out")
hdr_ok=0
[ -n "$size" ] && [ "$size" -gt 20000 ] && hdr_ok=1
if [ "$hdr_ok" = 1 ]; then ok "the whole 20 KB page arrives ($size bytes)"
else notok "the whole 20 KB page arrives" "data-len=$size"; fi
expect "backend EOF reaches the client as close_notify" "$T/ok.out" '^eof clean$'
expect "log line names the host sent" "$T/main.log" \
	'^conn host=app.test port=443 result=ok$'

# 2. half-close: the client's close_notify becomes the backend's EOF, and
#    the backend's answer still comes back afterwards
client "$P" "${CERT[@]}" --host count.test --hport 8080 --send 300000 \
	>"$T/half.out" 2>&1
expect "half-close: backend saw every byte then EOF" "$T/half.out" \
	'^data got 300000 bytes$'
expect "half-close: answer after the client's close_notify ends cleanly" \
	"$T/half.out" '^eof clean$'

# 3. refusals
client "$P" "${CERT[@]}" --host nope.test >"$T/unknown.out" 2>&1
expect "unknown host is refused with ERR_NGROK_3200" "$T/unknown.out" \
	'^reply endpoint_id= proto= error_code=ERR_NGROK_3200 error_message=.+'
expect "refusal is logged with the host" "$T/main.log" \
	'^conn host=nope.test port=443 result=refused$'
client "$P" "${CERT[@]}" --host app.test --hport 8443 >"$T/wrongport.out" 2>&1
expect "known host on another port is refused" "$T/wrongport.out" \
	'error_code=ERR_NGROK_3200'
client "$P" "${CERT[@]}" --host app.test:443 >"$T/hostport.out" 2>&1
expect "host:port as the host is refused" "$T/hostport.out" \
	'error_code=ERR_NGROK_3200'
expect "host:port is logged verbatim" "$T/main.log" \
	'^conn host=app.test:443 port=443 result=refused$'
client "$P" "${CERT[@]}" --host down.test >"$T/down.out" 2>&1
expect "route whose backend is down is refused" "$T/down.out" \
	'error_code=ERR_NGROK_3004'

# 4. client certificates
lines_before=$(wc -l < "$T/main.log")
client "$P" --host app.test >"$T/nocert.out" 2>&1
expect "no client certificate: TLS fails" "$T/nocert.out" '^tls-error'
expect_not "no client certificate: no ConnResponse" "$T/nocert.out" '^reply'
client "$P" --cert "$C/untrusted.pem" --key "$C/untrusted.key" \
	--host app.test >"$T/untrusted.out" 2>&1
expect "untrusted client certificate: TLS fails" "$T/untrusted.out" '^tls-error'
expect_not "untrusted client certificate: no ConnResponse" "$T/untrusted.out" '^reply'
lines_after=$(wc -l < "$T/main.log")
if [ "$lines_before" = "$lines_after" ]; then
	ok "rejected clients never reach the ConnRequest"
else
	notok "rejected clients never reach the ConnRequest" "$(tail -2 "$T/main.log")"
fi
client "$P" "${CERT[@]}" --sni wrong.test --host app.test >"$T/sni.out" 2>&1
expect "the ingress certificate names ingress.test only" "$T/sni.out" \
	'^tls-error.*(CERTIFICATE_VERIFY_FAILED|match)'

# 5. faults
start_ingress notice --fault notice &&
	client "$PORT_notice" "${CERT[@]}" --host app.test >"$T/f_notice.out" 2>&1
expect "--fault notice adds a notice to ok replies" "$T/f_notice.out" \
	'^notice fake ingress notice'

start_ingress cut --fault close-after=100 &&
	client "$PORT_cut" "${CERT[@]}" --host app.test --http >"$T/f_cut.out" 2>&1
expect "--fault close-after=100 relays exactly 100 bytes" "$T/f_cut.out" \
	'^data-len 100$'
expect "--fault close-after drops without close_notify" "$T/f_cut.out" \
	'^eof ragged$'

start_ingress delay --fault delay-header=700 &&
	client "$PORT_delay" "${CERT[@]}" --host app.test >"$T/f_delay.out" 2>&1
secs=$(sed -n 's/^frame-len .* after \([0-9.]*\)s$/\1/p' "$T/f_delay.out")
if [ -n "$secs" ] && awk -v s="$secs" 'BEGIN { exit !(s >= 0.7) }' &&
	grep -q '^reply endpoint_id=ep_app.test' "$T/f_delay.out"; then
	ok "--fault delay-header=700 delays the reply (${secs}s)"
else
	notok "--fault delay-header=700 delays the reply" "$(cat "$T/f_delay.out")"
fi

start_ingress garbage --fault garbage-header &&
	client "$PORT_garbage" "${CERT[@]}" --host app.test >"$T/f_garbage.out" 2>&1
expect "--fault garbage-header sends a 64-byte frame" "$T/f_garbage.out" \
	'^frame-len 64 got 64'
expect "--fault garbage-header does not parse" "$T/f_garbage.out" '^bad-reply'

start_ingress big --fault oversized-header &&
	client "$PORT_big" "${CERT[@]}" --host app.test >"$T/f_big.out" 2>&1
expect "--fault oversized-header announces and sends 65535 bytes" \
	"$T/f_big.out" '^frame-len 65535 got 65535 '

start_ingress refuse --fault refuse-handshake &&
	client "$PORT_refuse" "${CERT[@]}" --host app.test >"$T/f_refuse.out" 2>&1
expect "--fault refuse-handshake: no TLS" "$T/f_refuse.out" \
	'^(tls-error|conn-error)'

start_ingress silent --fault no-tls &&
	client "$PORT_silent" "${CERT[@]}" --timeout 1 --host app.test \
	>"$T/f_silent.out" 2>&1
expect "--fault no-tls: the handshake times out" "$T/f_silent.out" '^timeout$'

# 6. SIGTERM: clean exit
kill -TERM "$PID_main"
rc=0
for _ in $(seq 50); do
	kill -0 "$PID_main" 2>/dev/null || break
	sleep 0.1
done
wait "$PID_main" 2>/dev/null
rc=$?
if [ "$rc" = 0 ]; then ok "SIGTERM: exits with status 0"
else notok "SIGTERM: exits with status 0" "status $rc; $(tail -3 "$T/main.err")"; fi

tap_done
exit 0
