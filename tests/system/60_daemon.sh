#!/bin/bash
# 60_daemon.sh: the real ngrokd end to end in a private network namespace:
# the fake ngrok API (tests/fake/api.py, 3 pages of bound endpoints, CSRs
# signed by the client CA), the fake ingress (tests/fake/ingress, trusting
# that client CA), http.server backends, and ngrokd in tun mode with a
# generated configuration whose every path lives in a temporary directory.
#
# From an empty state dir with only NGROK_API_KEY: provisioning, every
# endpoint in the hosts file, curl by host name (the hosts file bind-mounted
# over /etc/hosts in a throw-away mount namespace) through ngrokd, endpoint
# changes within one poll interval, stable addresses across a restart,
# ngrokctl status/list, and a clean SIGTERM (no device, no hosts block).
# The machine's /etc/hosts and /var/run/ngrokd.sock are never touched.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/certs.sh

NGROKD=$OUT/ngrokd
NGROKCTL=$OUT/ngrokctl
INGRESS=$OUT/tests/fake/ingress
NS=ngrokdtest-$$-dm
T=$(mktemp -d /tmp/ngrokdtest-60.XXXXXX)
at_exit "[ -n \"${KEEP:-}\" ] || rm -rf '$T'"
KEY=test-key-$$-$RANDOM-secret

skip_all() { echo "ok 1 - daemon tests # SKIP $1"; echo "1..1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "needs root"
[ -c /dev/net/tun ] || skip_all "no /dev/net/tun"
for b in "$NGROKD" "$NGROKCTL" "$INGRESS"; do
	[ -x "$b" ] || { notok "$b is built" "missing (make test-build)"; tap_done; exit 0; }
done
for c in curl python3 openssl unshare; do
	command -v $c >/dev/null || skip_all "$c missing"
done

certs_make "$T/c" ingress.test 2>"$T/certs.err" ||
	{ notok "test certificates made" "$(cat "$T/certs.err")"; tap_done; exit 0; }
C=$T/c
# What the processes of the test see as /etc/hosts: ingress.test only.
printf '127.0.0.1\tlocalhost\n127.0.0.1\tingress.test\n' > "$T/hosts"
# ngrokd's server.hosts_file, with content of its own that must survive.
printf '127.0.0.1\tlocalhost\n# kept byte for byte\n::1 ip6-localhost\n' > "$T/etc-hosts"
cp "$T/etc-hosts" "$T/etc-hosts.orig"

netns_new "$NS" || { notok "create namespace $NS" "ip netns add failed"; tap_done; exit 0; }
NSX=(ip netns exec "$NS" unshare -m --propagation private
	sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts")
nsx() { "${NSX[@]}" "$@"; }
# as_app CMD...: runs CMD in the namespace with ngrokd's hosts file as
# /etc/hosts, mounted afresh (ngrokd replaces the file by rename, so an
# older bind mount would show an older version).
as_app() {
	ip netns exec "$NS" unshare -m --propagation private \
		sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/etc-hosts" "$@"
}

# --- backends, ingress, API ---------------------------------------------------
mkdir -p "$T/www-a" "$T/www-b"
echo "backend A $$" > "$T/www-a/index.html"
echo "backend B $$" > "$T/www-b/index.html"
bg "${NSX[@]}" python3 -m http.server --bind 127.0.0.1 --directory "$T/www-a" 8080 \
	>"$T/http-a.log" 2>&1 </dev/null
bg "${NSX[@]}" python3 -m http.server --bind 127.0.0.1 --directory "$T/www-b" 8081 \
	>"$T/http-b.log" 2>&1 </dev/null

ROUTES=(--route alpha.test:80=127.0.0.1:8080 --route beta.test:443=127.0.0.1:8081
	--route gamma.test:80=127.0.0.1:8080 --route delta.test:5432=127.0.0.1:8081
	--route epsilon.test:80=127.0.0.1:8080 --route zeta.test:80=127.0.0.1:8081)
bg "${NSX[@]}" "$INGRESS" --listen 127.0.0.1:4443 --cert "$C/ingress.pem" \
	--key "$C/ingress.key" --client-ca "$C/client-ca.pem" "${ROUTES[@]}" \
	--log "$T/ingress.log" >"$T/ingress.out" 2>"$T/ingress.err" </dev/null

ep() { printf '{"id":"%s","uri":"http://127.0.0.1:8000/endpoints/%s","url":"%s","proto":"%s","hostname":"%s"}' \
	"$1" "$1" "$2" "$3" "$4"; }
write_eps() {
	local out="[" sep="" i
	for i in "$@"; do
		case $i in
		a) out+="$sep$(ep ep_a http://alpha.test http alpha.test)";;
		b) out+="$sep$(ep ep_b https://beta.test https beta.test)";;
		g) out+="$sep$(ep ep_g http://gamma.test http gamma.test)";;
		d) out+="$sep$(ep ep_d tcp://delta.test:5432 tcp delta.test)";;
		e) out+="$sep$(ep ep_e http://epsilon.test http epsilon.test)";;
		z) out+="$sep$(ep ep_z http://zeta.test http zeta.test)";;
		esac
		sep=,
	done
	echo "$out]" > "$T/eps.json.tmp" && mv "$T/eps.json.tmp" "$T/eps.json"
}
write_eps a b g d e
bg "${NSX[@]}" python3 tests/fake/api.py --port 8000 --key "$KEY" --endpoints "$T/eps.json" \
	--ca-cert "$C/client-ca.pem" --ca-key "$C/client-ca.key" --page-size 2 \
	--ingress ingress.test:4443 >"$T/api.out" 2>"$T/api.err" </dev/null

wait_for 10 grep -q listening "$T/api.out" &&
	wait_for 5 grep -q '^listening' "$T/ingress.out" &&
	wait_for 10 nsx curl -sf -o /dev/null http://127.0.0.1:8080/ &&
	wait_for 10 nsx curl -sf -o /dev/null http://127.0.0.1:8081/ ||
	{ notok "API, ingress and backends start" "$(cat "$T"/api.err "$T"/ingress.err "$T"/http-*.log | tail -5)"; tap_done; exit 0; }
api_stats() { nsx curl -s http://127.0.0.1:8000/_control/stats; }
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)" 2>/dev/null; }

# --- ngrokd ---------------------------------------------------------------------
SOCK=$T/run/ngrokd.sock
cat > "$T/ngrokd.yml" <<EOF
api:
  url: http://127.0.0.1:8000
ingressEndpoint: ingress.test:4443
server:
  log_level: ${LOGLEVEL:-info}
  socket_path: $SOCK
  state_dir: $T/state
  hosts_file: $T/etc-hosts
bound_endpoints:
  poll_interval: 1s
net:
  mode: tun
  interface_name: ngrokd0
  subnet: 10.107.0.0/16
tls:
  ca_file: $C/ca.pem
health:
  port: 9182
EOF
NG_PID=
NG_N=0
start_ngrokd() {
	NG_N=$((NG_N + 1))
	NGERR=$T/ngrokd$NG_N.err
	bg env NGROK_API_KEY="$KEY" "${NSX[@]}" "$NGROKD" --config "$T/ngrokd.yml" \
		--foreground >"$T/ngrokd$NG_N.out" 2>"$NGERR" </dev/null
	NG_PID=$BG_PID
}
# stop_ngrokd: SIGTERM, waits up to 30 s; sets NG_RC and NG_MS (time taken).
stop_ngrokd() {
	local s=$(date +%s%N)
	kill -TERM "$NG_PID" 2>/dev/null
	NG_RC=timeout
	for _ in $(seq 300); do
		kill -0 "$NG_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! kill -0 "$NG_PID" 2>/dev/null; then
		wait "$NG_PID" 2>/dev/null
		NG_RC=$?
	fi
	NG_MS=$(( ($(date +%s%N) - s) / 1000000 ))
	NG_PID=
}
ctl() { nsx "$NGROKCTL" --socket "$SOCK" "$@"; }
block() { sed -n '/^# BEGIN ngrokd/,/^# END ngrokd/p' "$T/etc-hosts"; }
# names in the block, "name addr" per line, sorted
block_map() { block | awk '/^[0-9]/ { for (i = 2; i <= NF; i++) print $i, $1 }' | sort; }
has_names() { # NAME...: every name is in the block
	local m n
	m=$(block_map)
	for n in "$@"; do grep -q "^$n " <<<"$m" || return 1; done
}
addr_of() { block_map | awk -v n="$1" '$1 == n { print $2 }'; }

check "the state dir does not exist yet: only NGROK_API_KEY is given" test ! -e "$T/state"
start_ngrokd
ALL=(alpha.test beta.test gamma.test delta.test epsilon.test)
if wait_for 20 has_names "${ALL[@]}"; then
	ok "from an empty state dir: all 5 endpoints of a 3-page listing in the hosts file"
else
	notok "from an empty state dir: all 5 endpoints of a 3-page listing in the hosts file" \
		"block: $(block | tr '\n' '|'); log: $(tail -5 "$NGERR")"
fi
check "ngrokd's PID is tracked (comm ngrokd)" test "$(cat /proc/$NG_PID/comm 2>/dev/null)" = ngrokd
check "the certificate is provisioned, signed by the client CA" \
	openssl verify -CAfile "$C/client-ca.pem" "$T/state/tls.crt"
check "the private key is mode 0600" test "$(stat -c %a "$T/state/tls.key" 2>/dev/null)" = 600
nops=$(api_stats | json 'len(j["operators"])')
check "exactly one operator registered ($nops)" test "$nops" = 1
check "endpoints get addresses in 10.107.0.0/16, one per name" \
	eval '[ "$(block_map | awk "{print \$2}" | grep -c "^10\.107\.")" = 5 ] && [ "$(block_map | awk "{print \$2}" | sort -u | wc -l)" = 5 ]'
check "the hosts file's other content is kept byte for byte" \
	eval 'head -c "$(stat -c %s "$T/etc-hosts.orig")" "$T/etc-hosts" | cmp -s - "$T/etc-hosts.orig"'
check "device ngrokd0 is up in the namespace" eval 'ip -n "$NS" link show ngrokd0 | grep -q "UP"'

# ngrokctl
wait_for 10 ctl health
st=$(ctl --json status 2>&1)
sj() { json "$1" <<<"$st"; }
if [ "$(sj 'j.get("data", j)["registered"]')" = True ] &&
   [ "$(sj 'j.get("data", j)["mode"]')" = tun ] &&
   [ "$(sj 'j.get("data", j)["endpoints"]')" = 5 ] &&
   [ "$(sj 'j.get("data", j)["operator_id"]')" = k8sop_0001 ]; then
	ok "ngrokctl status: registered, operator k8sop_0001, mode tun, 5 endpoints"
else
	notok "ngrokctl status: registered, operator k8sop_0001, mode tun, 5 endpoints" "$st"
fi
out=$(ctl status 2>&1); rc=$?
check "ngrokctl status (text) works and names the operator" \
	eval '[ $rc = 0 ] && grep -q k8sop_0001 <<<"$out"'
out=$(ctl list 2>&1); rc=$?
miss=""
for n in "${ALL[@]}"; do
	grep -q "$n" <<<"$out" && grep -q "$(addr_of "$n")" <<<"$out" || miss="$miss $n"
done
check "ngrokctl list shows every endpoint with its address" \
	eval '[ $rc = 0 ] && [ -z "$miss" ]' 
[ -n "$miss" ] && echo "# missing:$miss; list: $(tr '\n' '|' <<<"$out")"

# Traffic by host name through ngrokd.
get() { as_app curl -sS -m 10 "$@" 2>&1; }
check "curl http://alpha.test/ (name from the hosts file) reaches backend A" \
	test "$(get http://alpha.test/)" = "backend A $$"
check "curl http://beta.test:443/ (https endpoint, port 443) reaches backend B" \
	test "$(get http://beta.test:443/)" = "backend B $$"
check "curl http://delta.test:5432/ (tcp endpoint with its port) reaches backend B" \
	test "$(get http://delta.test:5432/)" = "backend B $$"
check "the ingress got the bare host names and ports" \
	eval 'grep -q "host=alpha.test port=80 result=ok" "$T/ingress.log" && grep -q "host=beta.test port=443 result=ok" "$T/ingress.log" && grep -q "host=delta.test port=5432 result=ok" "$T/ingress.log"'
lj=$(ctl --json list 2>&1)
tot=$(json '[e["streams_total"] for e in j.get("data", j)["endpoints"] if e["hostname"] == "alpha.test"][0]' <<<"$lj")
check "ngrokctl list counts the stream on alpha.test (streams_total=$tot)" test "${tot:-0}" -ge 1

# Add zeta, remove gamma: reflected within one poll interval (1 s; 2 s
# allowed for scheduling).
GAMMA=$(addr_of gamma.test)
before=$(block_map)
write_eps a b d e z
s=$(date +%s%N)
changed() { has_names zeta.test && ! has_names gamma.test; }
wait_for 10 changed
ms=$(( ($(date +%s%N) - s) / 1000000 ))
if changed && [ "$ms" -le 2000 ]; then
	ok "added/removed endpoints reflected in the hosts file in ${ms} ms (poll 1 s)"
else
	notok "added/removed endpoints reflected in the hosts file within 2 s" "after ${ms} ms: $(block | tr '\n' '|')"
fi
check "the other endpoints keep their addresses" \
	test "$(block_map | grep -v '^zeta')" = "$(grep -v '^gamma' <<<"$before")"
check "curl http://zeta.test/ reaches backend B" test "$(get http://zeta.test/)" = "backend B $$"
out=$(nsx python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], 80), 5).close(); print("connected")
except OSError as e:
    print(type(e).__name__)' "$GAMMA" 2>&1)
check "gamma's old address $GAMMA no longer accepts connections ($out)" test "$out" = ConnectionRefusedError

# Restart: every address kept, nothing provisioned again.
before=$(block_map)
posts=$(api_stats | json 'j["requests"].get("POST kubernetes_operators", 0)')
stop_ngrokd
check "SIGTERM: ngrokd exits 0 (in $NG_MS ms)" test "$NG_RC" = 0
check "SIGTERM: no ngrokd0 device left" eval '! ip -n "$NS" link show ngrokd0 >/dev/null 2>&1'
if cmp -s "$T/etc-hosts" "$T/etc-hosts.orig"; then
	ok "SIGTERM: the managed hosts block is removed, the rest byte for byte"
else
	notok "SIGTERM: the managed hosts block is removed, the rest byte for byte" \
		"hosts: $(od -c "$T/etc-hosts" | tail -4); log: $(tail -6 "$NGERR")"
fi
check "SIGTERM: the control socket is removed" test ! -e "$SOCK"
start_ngrokd
wait_for 20 has_names alpha.test beta.test delta.test epsilon.test zeta.test
after=$(block_map)
check "restart keeps every address" test "$after" = "$before"
[ "$after" = "$before" ] || echo "# before: $(tr '\n' '|' <<<"$before"); after: $(tr '\n' '|' <<<"$after")"
posts2=$(api_stats | json 'j["requests"].get("POST kubernetes_operators", 0)')
nops=$(api_stats | json 'len(j["operators"])')
check "restart reuses the certificate and operator (POSTs $posts -> $posts2, operators $nops)" \
	eval '[ "$posts2" = "$posts" ] && [ "$nops" = 1 ]'
wait_for 10 ctl health
check "after the restart: curl http://epsilon.test/ reaches backend A" \
	test "$(get http://epsilon.test/)" = "backend A $$"

# An API outage (HTTP 500 on every request) keeps the endpoints working
# and shows in status; recovery shows too.
fault() { nsx curl -s -X POST -d "{\"fault\":\"$1\",\"count\":-1}" http://127.0.0.1:8000/_control/fault >/dev/null; }
api_state() { ctl --json status 2>/dev/null | json 'str(j.get("data", j)["api_healthy"]) + " " + j.get("data", j)["api_last_error"]'; }
unhealthy() { api_state | grep -q '^False .*500'; }
healthy() { api_state | grep -q '^True'; }
before=$(block_map)
fault 500
if wait_for 5 unhealthy; then
	ok "API 500s: status says api_healthy=false and names the error: $(api_state | cut -d' ' -f2- | cut -c1-100)"
else
	notok "API 500s: status says api_healthy=false and names the error" "$(api_state)"
fi
check "API 500s: every endpoint stays in the hosts file" test "$(block_map)" = "$before"
check "API 500s: curl http://alpha.test/ still works" test "$(get http://alpha.test/)" = "backend A $$"
fault none
if wait_for 5 healthy; then ok "API back: status says api_healthy=true"
else notok "API back: status says api_healthy=true" "$(api_state)"; fi

# Lost state dir: the operator is adopted, not registered again.
stop_ngrokd
rm -rf "$T/state"
start_ngrokd
wait_for 20 has_names alpha.test beta.test delta.test epsilon.test zeta.test
wait_for 10 ctl health
opid=$(ctl --json status 2>/dev/null | json 'j.get("data", j)["operator_id"]')
nops=$(api_stats | json 'len(j["operators"])')
check "a lost state dir adopts the same operator ($opid; $nops operator(s) at the API)" \
	eval '[ "$opid" = k8sop_0001 ] && [ "$nops" = 1 ]'
check "after adoption: curl http://zeta.test/ reaches backend B" \
	test "$(get http://zeta.test/)" = "backend B $$"

# SIGTERM while a poll is in flight (the API sleeps 5 s before answering):
# the hosts block must still go, and the daemon must not wait for the API.
fault slow
sleep 1.5
t0=$(date +%s%N)
kill -TERM "$NG_PID"
fault none	# only the request in flight is slow
stop_ngrokd
NG_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
check "SIGTERM during a slow API request: ngrokd exits 0 within 3 s (took $NG_MS ms)" \
	eval '[ "$NG_RC" = 0 ] && [ "$NG_MS" -le 3000 ]'
check "SIGTERM during a slow API request: no ngrokd0 device left" \
	eval '! ip -n "$NS" link show ngrokd0 >/dev/null 2>&1'
if cmp -s "$T/etc-hosts" "$T/etc-hosts.orig"; then
	ok "SIGTERM during a slow API request: the hosts block is removed, the rest byte for byte"
else
	notok "SIGTERM during a slow API request: the hosts block is removed, the rest byte for byte" \
		"the block is still there ($(block | grep -c '^10\.') names); log: $(tail -3 "$NGERR")"
fi
check "the API key never appears in ngrokd's output" \
	eval '! cat "$T"/ngrokd*.err "$T"/ngrokd*.out | grep -qF "$KEY"'
check "no sanitizer report from ngrokd" \
	eval '! cat "$T"/ngrokd*.err | grep -qE "AddressSanitizer|LeakSanitizer|runtime error"'
tap_done
exit 0
