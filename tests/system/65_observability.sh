#!/bin/bash
# 65_observability.sh: ngrokd's HTTP probe and metrics listener (health.*),
# with the real daemon in a private network namespace, the fake ngrok API
# (tests/fake/api.py), the fake ingress and an http.server backend, set up
# as in 60_daemon.sh.
#
# /healthz answers from the start; /readyz is 503 with a reason while the
# API is unreachable (api.py starts only after ngrokd), 200 once the
# operator is provisioned and a poll succeeded, 503 naming the device when
# ngrokd0 is deleted (and stays 503 while a bridge holds the name), and 200
# again once ngrokd has recreated it (it retries every second).  /status
# is JSON with the endpoints.  /metrics parses with Debian's
# python3-prometheus-client (/usr/bin/python3: the pyenv python3 on PATH
# does not have it) and its counters move while a 200 MB download runs
# through an endpoint.  Also: 405 for other methods, 431 for a 9 KiB
# header, a clean SIGTERM.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/certs.sh
. tests/lib/cloud.sh

cloud_init 65 ob "observability tests"
PY=/usr/bin/python3
HPORT=9181		# health.port; the namespace is ours, so it is free
BIG=$((200 * 1024 * 1024))
cloud_require curl python3 openssl unshare
"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
	skip_all "$PY has no prometheus_client (apt-get install python3-prometheus-client)"
cloud_certs || cloud_setup_failed "test certificates made"
printf '127.0.0.1\tlocalhost\n' > "$T/etc-hosts"
cloud_netns || cloud_setup_failed "create namespace $NS" "ip netns add failed"

# --- the metrics reader ------------------------------------------------------
# prom.py FILE: parses FILE with prometheus_client's text parser (exit 2 and
# the parser's message on failure) and writes FILE.json: the family types
# and every sample.  prom.py FILE.json NAME [LABEL=VALUE...]: prints the sum
# of the samples called NAME whose labels include the given ones; exit 1
# when there is none.
cat > "$T/prom.py" <<'EOF'
import json, sys
args = sys.argv[1:]
if not args[0].endswith(".json"):
    from prometheus_client.parser import text_string_to_metric_families
    text = open(args[0], encoding="utf-8").read()
    fams, samples = {}, []
    try:
        for f in text_string_to_metric_families(text):
            fams[f.name] = f.type
            for s in f.samples:
                samples.append([s.name, dict(s.labels), s.value])
    except Exception as e:
        print("parse error: %s: %s" % (type(e).__name__, e))
        sys.exit(2)
    json.dump({"families": fams, "samples": samples}, open(args[0] + ".json", "w"))
    print("%d families, %d samples" % (len(fams), len(samples)))
    sys.exit(0)
j = json.load(open(args[0]))
want = dict(a.split("=", 1) for a in args[2:])
vals = [v for n, l, v in j["samples"]
        if n == args[1] and all(l.get(k) == x for k, x in want.items())]
if not vals:
    sys.exit(1)
t = sum(vals)
print(int(t) if t == int(t) else t)
EOF

H=http://127.0.0.1:$HPORT
# hget PATH [CURL ARGS]: "CODE BODY" (body on one line).
hget() {
	local p=$1
	shift
	nsx curl -s -m 5 -o "$T/h.body" -w '%{http_code}' "$@" "$H$p" 2>/dev/null
	printf ' %s' "$(tr '\n' ' ' < "$T/h.body" 2>/dev/null)"
}
code_is() { hget "$1" | grep -q "^$2 "; }
SCRAPES=0
# scrape NAME: /metrics into $T/NAME (with headers in $T/NAME.hdr), parsed.
scrape() {
	SCRAPES=$((SCRAPES + 1))
	nsx curl -s -m 5 -D "$T/$1.hdr" -o "$T/$1" "$H/metrics" &&
		"$PY" "$T/prom.py" "$T/$1" > "$T/$1.parse" 2>&1
}
# m NAME SAMPLE [LABEL=VALUE...]: a value from scrape NAME ("" when absent).
m() { local f=$1; shift; "$PY" "$T/prom.py" "$T/$f.json" "$@" 2>/dev/null; }
# gt A B: A > B, both numbers (integers or not).
gt() { [ -n "$1" ] && [ -n "$2" ] && "$PY" -c 'import sys; sys.exit(not float(sys.argv[1]) > float(sys.argv[2]))' "$1" "$2"; }

# --- backend and ingress (the API comes later) ---------------------------------
mkdir -p "$T/www"
truncate -s "$BIG" "$T/www/big.bin"	# sparse: no 200 MB on disk
cloud_backend www 8080 "backend $$"
ROUTES=(--route alpha.test:80=127.0.0.1:8080 --route beta.test:80=127.0.0.1:8080)
ingress_start && cloud_backends_up || cloud_setup_failed "ingress and backend start"
EPS=([a]=http://alpha.test [b]=http://beta.test)
cloud_eps a b

# --- ngrokd, with the API still down --------------------------------------------
cloud_config "$NG_CONFIG" "health:" "  enabled: true" "  address: 127.0.0.1" \
	"  port: $HPORT" "dns:" "  enabled: true"
ngrokd_start

if wait_for 5 code_is /healthz 200; then
	ok "/healthz is 200 from the start (API not running yet): $(hget /healthz)"
else
	notok "/healthz is 200 from the start (API not running yet)" \
		"got: $(hget /healthz); log: $(tail -5 "$NGERR")"
fi
sleep 1.5	# a few failed API attempts (backoff is capped at poll_interval)
r=$(hget /readyz)
if [[ $r =~ ^503\ [[:alnum:]] ]]; then
	ok "/readyz is 503 with a reason while the API is unreachable: ${r:0:100}"
else
	notok "/readyz is 503 with a reason while the API is unreachable" "got: $r"
fi
if scrape m_down; then
	ok "/metrics while not ready parses ($(cat "$T/m_down.parse"))"
else
	notok "/metrics while not ready parses" "$(cat "$T/m_down.parse" 2>/dev/null | tail -3)"
fi
v="ready=$(m m_down ngrokd_ready) registered=$(m m_down ngrokd_registered) api_up=$(m m_down ngrokd_api_up) up=$(m m_down ngrokd_up)"
check "/metrics while not ready: $v" test "$v" = "ready=0 registered=0 api_up=0 up=1"
st=$(hget /status)
check "/status answers 200 before the first poll too" eval '[[ $st =~ ^200\ \{ ]]'

# --- the API comes up -----------------------------------------------------------
api_start || cloud_setup_failed "the fake API starts"
t0=$(date +%s%N)
if wait_for 15 code_is /readyz 200; then
	ok "/readyz turns 200 once the API is up ($(( ($(date +%s%N) - t0) / 1000000 )) ms): $(hget /readyz)"
else
	notok "/readyz turns 200 once the API is up (within 15 s)" \
		"got: $(hget /readyz); log: $(tail -5 "$NGERR")"
fi

st=$(hget /status)
sj() { "$PY" -c "import json,sys; j=json.loads(sys.stdin.read()[4:]); print($1)" <<<"$st" 2>&1; }
eps=$(sj '" ".join(sorted("%s=%s:%s" % (e["hostname"], e["address"], e["port"]) for e in j["endpoints"]))')
check "/status is JSON with both endpoints ($eps)" \
	eval '[[ $eps =~ ^alpha\.test=10\.107\.[0-9.]+:80\ beta\.test=10\.107\.[0-9.]+:80$ ]]'
v=$(sj '"%s %s" % (j["registered"], j["operator_id"])')
check "/status has the status fields (registered $v)" test "$v" = "True k8sop_0001"
ALPHA=$(sj '[e["address"] for e in j["endpoints"] if e["hostname"] == "alpha.test"][0]')

# --- /metrics while 200 MB flow through alpha.test ------------------------------------
if scrape m0; then
	ok "/metrics when ready parses ($(cat "$T/m0.parse"))"
else
	notok "/metrics when ready parses" "$(tail -3 "$T/m0.parse" 2>/dev/null)"
fi
check "/metrics Content-Type is text/plain; version=0.0.4" \
	grep -qi '^content-type: text/plain; version=0.0.4' "$T/m0.hdr"
ty() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["families"].get(sys.argv[2]))' "$T/m0.json" "$1"; }
types="bytes=$(ty ngrokd_bytes) streams_active=$(ty ngrokd_streams_active) handshake=$(ty ngrokd_handshake_seconds) header=$(ty ngrokd_header_exchange_seconds) packets=$(ty ngrokd_packets)"
check "family types as documented: $types" test "$types" = \
	"bytes=counter streams_active=gauge handshake=histogram header=histogram packets=counter"
check "ngrokd_ready is 1 once ready" test "$(m m0 ngrokd_ready)" = 1
A=(endpoint=ep_a hostname=alpha.test port=80)

s0=$(date +%s%N)
bg "${NSX[@]}" curl -s -o /dev/null -m 60 --limit-rate 25M -w '%{http_code} %{size_download}' \
	"http://$ALPHA/big.bin" >"$T/dl.out" 2>"$T/dl.err" </dev/null
DL_PID=$BG_PID
active_now() { scrape mx && [ "$(m mx ngrokd_streams_active "${A[@]}")" -ge 1 ] 2>/dev/null; }
wait_for 5 active_now
scrape m1
sleep 1
scrape m2
running=$(kill -0 "$DL_PID" 2>/dev/null && echo yes || echo no)
b1=$(m m1 ngrokd_bytes_total "${A[@]}" direction=down)
b2=$(m m2 ngrokd_bytes_total "${A[@]}" direction=down)
a1=$(m m1 ngrokd_streams_active "${A[@]}")
a2=$(m m2 ngrokd_streams_active "${A[@]}")
check "two scrapes 1 s apart while the download runs (still running: $running): bytes down on alpha.test grow ($b1 -> $b2)" \
	eval '[ "$running" = yes ] && gt "$b2" "$b1" && gt "$b1" 0'
check "during the download: ngrokd_streams_active on alpha.test >= 1 ($a1, $a2)" \
	eval '[ "${a1:-0}" -ge 1 ] && [ "${a2:-0}" -ge 1 ]'
wait "$DL_PID"
dl=$(cat "$T/dl.out")
ms=$(( ($(date +%s%N) - s0) / 1000000 ))
check "the 200 MB download through alpha.test completes ($dl in $ms ms)" test "$dl" = "200 $BIG"

idle() { scrape m3 && [ "$(m m3 ngrokd_streams_active "${A[@]}")" = 0 ]; }
if wait_for 5 idle; then
	ok "after the download: ngrokd_streams_active on alpha.test is 0"
else
	notok "after the download: ngrokd_streams_active on alpha.test is 0" \
		"$(grep '^ngrokd_streams_active' "$T/m3")"
fi
d0=$(m m0 ngrokd_bytes_total "${A[@]}" direction=down)
d3=$(m m3 ngrokd_bytes_total "${A[@]}" direction=down)
u0=$(m m0 ngrokd_bytes_total "${A[@]}" direction=up)
u3=$(m m3 ngrokd_bytes_total "${A[@]}" direction=up)
check "bytes down on alpha.test grew by at least 200 MB ($d0 -> $d3), up by the request ($u0 -> $u3)" \
	eval '[ $((d3 - d0)) -ge $BIG ] && [ $((u3 - u0)) -gt 0 ] && [ $((u3 - u0)) -lt 4096 ]'
t0v=$(m m0 ngrokd_streams_total "${A[@]}"); t3v=$(m m3 ngrokd_streams_total "${A[@]}")
check "ngrokd_streams_total on alpha.test +1 ($t0v -> $t3v)" test "$((t3v - t0v))" = 1
bt0=$(m m0 ngrokd_streams_total endpoint=ep_b); bt3=$(m m3 ngrokd_streams_total endpoint=ep_b)
check "beta.test's counters did not move (streams_total $bt0 -> $bt3)" \
	eval '[ -n "$bt0" ] && [ "$bt0" = "$bt3" ]'
h0=$(m m0 ngrokd_tls_handshakes_total); h3=$(m m3 ngrokd_tls_handshakes_total)
check "ngrokd_tls_handshakes_total grew ($h0 -> $h3)" gt "$h3" "${h0:-0}"
c0=$(m m0 ngrokd_handshake_seconds_count); c3=$(m m3 ngrokd_handshake_seconds_count)
check "ngrokd_handshake_seconds_count grew ($c0 -> $c3)" gt "$c3" "$c0"
inf3=$(m m3 ngrokd_handshake_seconds_bucket le=+Inf)
check "ngrokd_handshake_seconds: the +Inf bucket equals _count ($inf3, $c3)" \
	eval '[ -n "$inf3" ] && [ "$inf3" = "$c3" ]'
x0=$(m m0 ngrokd_header_exchange_seconds_count); x3=$(m m3 ngrokd_header_exchange_seconds_count)
check "ngrokd_header_exchange_seconds_count grew ($x0 -> $x3)" gt "$x3" "$x0"
pi0=$(m m0 ngrokd_packets_total direction=in); pi3=$(m m3 ngrokd_packets_total direction=in)
po0=$(m m0 ngrokd_packets_total direction=out); po3=$(m m3 ngrokd_packets_total direction=out)
pb0=$(m m0 ngrokd_packet_bytes_total direction=out); pb3=$(m m3 ngrokd_packet_bytes_total direction=out)
check "stack packets moved: in $pi0 -> $pi3, out $po0 -> $po3, out bytes +$((pb3 - pb0)) (>= 200 MB)" \
	eval 'gt "$pi3" "$pi0" && gt "$po3" "$po0" && [ $((pb3 - pb0)) -ge $BIG ]'
dr0=$(m m0 ngrokd_device_packets_total direction=rx); dr3=$(m m3 ngrokd_device_packets_total direction=rx)
dt0=$(m m0 ngrokd_device_packets_total direction=tx); dt3=$(m m3 ngrokd_device_packets_total direction=tx)
check "device packets moved: rx $dr0 -> $dr3, tx $dt0 -> $dt3" \
	eval 'gt "$dr3" "$dr0" && gt "$dt3" "$dt0"'
k0=$(m m0 ngrokd_connections_total); k3=$(m m3 ngrokd_connections_total)
check "ngrokd_connections_total +1 ($k0 -> $k3)" test "$((k3 - k0))" = 1
check "every scrape parsed ($SCRAPES scrapes)" \
	eval '! grep -L "families" "$T"/m*.parse | grep -q .'

# --- DNS counters: /metrics and ngrokctl status -----------------------------------
# dnsq NAME TYPE: one UDP query to the responder; prints "RCODE ANCOUNT".
dnsq() {
	nsx "$PY" -c '
import socket, struct, sys
name, qt = sys.argv[1], int(sys.argv[2])
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
q += struct.pack(">HH", qt, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, ("10.107.0.2", 53))
r = s.recv(512)
print(r[3] & 15, struct.unpack(">H", r[6:8])[0])' "$@" 2>&1
}
scrape md0
r="$(dnsq alpha.test 1) / $(dnsq ALPHA.test 1) / $(dnsq alpha.test 28) / $(dnsq nowhere.example 1)"
check "DNS: A, A, AAAA of alpha.test, A of an unknown name: $r" \
	test "$r" = "0 1 / 0 1 / 0 0 / 5 0"
scrape md1
dd() { echo $(( $(m md1 "$@") - $(m md0 "$@") )); }
v="queries +$(dd ngrokd_dns_queries_total) answered +$(dd ngrokd_dns_replies_total result=answered) nodata +$(dd ngrokd_dns_replies_total result=nodata) refused +$(dd ngrokd_dns_replies_total result=refused)"
check "ngrokd_dns_* counted them: $v" \
	test "$v" = "queries +4 answered +2 nodata +1 refused +1"
check "no upstream families without dns.upstream; the gateway's are there ($(grep -c '^ngrokd_dns_gateway' "$T/md1") lines)" \
	eval '! grep -q "^ngrokd_dns_upstream" "$T/md1" && grep -q "^ngrokd_dns_gateway_send_errors_total 0" "$T/md1"'
v=$(ctl --json status 2>/dev/null | json '"%s %s %s %s" % (j["dns_queries"], j["dns_answered"], j["dns_nodata"], j["dns_refused"])')
check "ngrokctl status has the same DNS counters ($v)" \
	test "$v" = "$(m md1 ngrokd_dns_queries_total) $(m md1 ngrokd_dns_replies_total result=answered) $(m md1 ngrokd_dns_replies_total result=nodata) $(m md1 ngrokd_dns_replies_total result=refused)"

# --- the device goes away, and comes back ---------------------------------------
# poll.py PORT SECS [stop]: GETs /readyz every 10 ms for up to SECS and
# prints "EPOCH_MS CODE BODY" at every change of answer; with "stop", ends
# once a 503 has been followed by a 200.  In-process and time-stamped, so
# neither a short 503 window nor a loaded machine (slow curl start-ups)
# blurs what ngrokd answered when.
cat > "$T/poll.py" <<'EOF2'
import http.client, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
stop = sys.argv[3:] == ["stop"]
t0, last, seen503 = time.monotonic(), None, False
while time.monotonic() - t0 < secs:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/readyz")
        r = c.getresponse()
        a = "%d %s" % (r.status, r.read().decode(errors="replace").strip())
        c.close()
    except OSError as e:
        a = "error %s" % e
    if a != last:
        print("%d %s" % (time.time() * 1000, a), flush=True)
        last = a
    seen503 = seen503 or a.startswith("503")
    if stop and seen503 and a.startswith("200"):
        break
    time.sleep(0.01)
EOF2
now_ms() { date +%s%3N; }
# poll_start SECS [stop]: poll.py into $T/poll.out, in the background,
# returns once it has seen 200.
poll_start() {
	bg "${NSX[@]}" python3 "$T/poll.py" "$HPORT" "$@" >"$T/poll.out" 2>"$T/poll.err" </dev/null
	POLL_PID=$BG_PID
	wait_for 3 grep -q '^[0-9]* 200 ' "$T/poll.out"
}
# first503 [MS]: "EPOCH_MS 503 BODY" of the first 503 (at MS or later); back200: EPOCH_MS of the
# first 200 after it; poll_log: the answers on one line for reports.
first503() { awk -v t="${1:-0}" '$1 >= t && $2 == 503 { print; exit }' "$T/poll.out"; }
back200() { awk '$2 == 503 { s = 1 } s && $2 == 200 { print $1; exit }' "$T/poll.out"; }
poll_log() { awk -v t="$1" '{ $1 = $1 - t; print }' "$T/poll.out" | tr '\n' '|'; }

# 1. Deleted, and its name taken at once by another kind of device (a
#    bridge; there is no dummy driver here), so that ngrokd cannot
#    recreate it: /readyz must say so, and keep saying so, until the name
#    is free again.  One ip process sends both requests; should ngrokd's
#    1 s tick still fall between them (a loaded machine), the bridge
#    cannot be made and the round is repeated.
poll_start 6
for try in 1 2 3; do
	tdel=$(now_ms)
	ip -n "$NS" -batch - >"$T/ipb.err" 2>&1 <<'EOF2'
link del ngrokd0
link add ngrokd0 type bridge
EOF2
	ip -d -n "$NS" link show ngrokd0 2>/dev/null | grep -q bridge && break
	echo "# round $try: ngrokd0 came back between the two requests: $(tr '\n' ' ' < "$T/ipb.err")"
	sleep 0.3
done
sleep 2.5
held=$(ip -d -n "$NS" link show ngrokd0 2>/dev/null | grep -c bridge)
hz=$(hget /healthz)
scrape md
mr=$(m md ngrokd_ready)
wait "$POLL_PID"
f=$(first503 "$tdel")
lat=$(( ${f%% *} - tdel ))
# answers from the first 503 on: all must be that 503 while the name is held
after=$(awk -v t="${f%% *}" '$1 >= t' "$T/poll.out" | cut -d' ' -f2- | sort -u)
check "ngrokd0 deleted, name held by a bridge: /readyz 503 naming the device ${lat} ms after (${f#* })" \
	eval '[[ $f == *\ 503\ *ngrokd0* ]] && [ "$lat" -le 2000 ]'
check "the 503 stays while the name is held, 2.5 s and more (answers, ms after the deletion: $(poll_log "$tdel"))" \
	eval '[ -n "$f" ] && [ "$held" = 1 ] && [ "$after" = "${f#* }" ]'
check "/healthz stays 200 meanwhile (${hz:0:20})" eval '[[ $hz == 200\ * ]]'
check "ngrokd_ready is 0 meanwhile ($mr)" test "$mr" = 0
poll_start 8 stop
tdel=$(now_ms)
ip -n "$NS" link del ngrokd0
wait "$POLL_PID"
b=$(back200)
check "name free again: ngrokd recreates ngrokd0, /readyz 200 $(( ${b:-0} - tdel )) ms later (within 5 s)" \
	eval '[ -n "$b" ] && [ $((b - tdel)) -le 5000 ]'
check "ngrokd0 is a TUN device again, and up" \
	eval 'ip -d -n "$NS" link show ngrokd0 | grep -q "tun type tun" && ip -n "$NS" link show ngrokd0 | grep -q UP'
out=$(get "http://$ALPHA/")
check "traffic through alpha.test works again after the recreation" \
	test "$out" = "backend $$"

# 2. Plain `ip link del ngrokd0`: ngrokd recreates it on its next 1 s tick,
#    so the 503 lasts between 0 and 1 s.  The log's timestamps (ms) tell
#    how long it really was; only a window under 30 ms excuses an unseen
#    503.
poll_start 8 stop
nlost=$(grep -c 'ngrokd0 lost' "$NGERR")
tdel=$(now_ms)
ip -n "$NS" link del ngrokd0
wait "$POLL_PID"
f=$(first503)
b=$(back200)
lt=$(grep 'ngrokd0 lost' "$NGERR" | tail -1 | cut -d' ' -f1)
bt=$(grep 'ngrokd0 is back' "$NGERR" | tail -1 | cut -d' ' -f1)
gap=$(( $(date -d "$bt" +%s%3N 2>/dev/null || echo 0) - $(date -d "$lt" +%s%3N 2>/dev/null || echo 0) ))
if [[ $f == *\ 503\ *ngrokd0* ]] && [ $(( ${f%% *} - tdel )) -le 2000 ] &&
	[ -n "$b" ] && [ $((b - tdel)) -le 5000 ]; then
	ok "plain ip link del ngrokd0: /readyz 503 naming it after $(( ${f%% *} - tdel )) ms, 200 after $((b - tdel)) ms (logged window $gap ms)"
elif [ -z "$f" ] && [ "$(grep -c 'ngrokd0 lost' "$NGERR")" -gt "$nlost" ] &&
	[ -n "$lt" ] && [ -n "$bt" ] && [ "$gap" -ge 0 ] && [ "$gap" -lt 30 ] && code_is /readyz 200; then
	ok "plain ip link del ngrokd0: recreated in $gap ms (logged), too short for the poller to see the 503; /readyz 200"
else
	notok "plain ip link del ngrokd0: /readyz 503 naming it within 2 s, then 200 within 5 s" \
		"answers (ms after the deletion): $(poll_log "$tdel"); logged window: $gap ms ($lt .. $bt)"
fi
check "ngrokd0 exists again and is up" eval 'ip -n "$NS" link show ngrokd0 | grep -q UP'
check "the log has the loss and the recovery" \
	eval 'grep -q "ngrokd0 lost" "$NGERR" && grep -q "ngrokd0 is back" "$NGERR"'
check "ngrokd is still running (comm ngrokd)" ngrokd_alive

# --- what the server refuses ----------------------------------------------------
r=$(hget /healthz -X POST -D "$T/post.hdr")
check "POST /healthz: 405 with Allow: GET, HEAD (${r:0:60})" \
	eval '[[ $r == 405\ * ]] && grep -qi "^allow: GET, HEAD" "$T/post.hdr"'
r=$(hget /metrics -X DELETE)
check "DELETE /metrics: 405 (${r:0:60})" eval '[[ $r == 405\ * ]]'
big=$(head -c 9216 /dev/zero | tr '\0' a)
r=$(hget /healthz -H "X-Big: $big")
check "a 9 KiB header: 431 (${r:0:60})" eval '[[ $r == 431\ * ]]'
check "/healthz still 200 after the refusals" code_is /healthz 200

# --- SIGTERM -------------------------------------------------------------------
ngrokd_stop 10
check "SIGTERM: ngrokd exits 0 ($NG_RC)" test "$NG_RC" = 0
check "after SIGTERM nothing answers on port $HPORT" eval '! nsx curl -s -m 2 -o /dev/null "$H/healthz"'
check "no sanitizer report from ngrokd" ngrokd_clean
tap_done
exit 0
