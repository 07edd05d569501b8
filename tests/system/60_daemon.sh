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
. tests/lib/cloud.sh

cloud_init 60 dm "daemon tests"
cloud_require curl python3 openssl unshare
cloud_certs || cloud_setup_failed "test certificates made"
# ngrokd's server.hosts_file, with content of its own that must survive.
printf '127.0.0.1\tlocalhost\n# kept byte for byte\n::1 ip6-localhost\n' > "$T/etc-hosts"
cp "$T/etc-hosts" "$T/etc-hosts.orig"
cloud_netns || cloud_setup_failed "create namespace $NS" "ip netns add failed"

# --- backends, ingress, API ---------------------------------------------------
cloud_backend www-a 8080 "backend A $$"
cloud_backend www-b 8081 "backend B $$"
ROUTES=(--route alpha.test:80=127.0.0.1:8080 --route beta.test:443=127.0.0.1:8081
	--route gamma.test:80=127.0.0.1:8080 --route delta.test:5432=127.0.0.1:8081
	--route epsilon.test:80=127.0.0.1:8080 --route zeta.test:80=127.0.0.1:8081)
EPS=([a]=http://alpha.test [b]=https://beta.test [g]=http://gamma.test
	[d]=tcp://delta.test:5432 [e]=http://epsilon.test [z]=http://zeta.test)
cloud_eps a b g d e
ingress_start && api_start --page-size 2 && cloud_backends_up ||
	cloud_setup_failed "API, ingress and backends start"
api_stats() { nsx curl -s http://127.0.0.1:8000/_control/stats; }

# --- ngrokd ---------------------------------------------------------------------
cloud_config "$NG_CONFIG" "health:" "  port: 9182"

check "the state dir does not exist yet: only NGROK_API_KEY is given" test ! -e "$T/state"
ngrokd_start
ALL=(alpha.test beta.test gamma.test delta.test epsilon.test)
if wait_for 20 has_names "${ALL[@]}"; then
	ok "from an empty state dir: all 5 endpoints of a 3-page listing in the hosts file"
else
	notok "from an empty state dir: all 5 endpoints of a 3-page listing in the hosts file" \
		"block: $(block | tr '\n' '|'); log: $(tail -5 "$NGERR")"
fi
check "ngrokd's PID is tracked (comm ngrokd)" ngrokd_alive
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
if [ "$(sj 'j["registered"]')" = True ] &&
   [ "$(sj 'j["mode"]')" = tun ] &&
   [ "$(sj 'j["endpoints"]')" = 5 ] &&
   [ "$(sj 'j["operator_id"]')" = k8sop_0001 ]; then
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
	grep -q "$n" <<<"$out" && grep -q "$(hosts_addr "$n")" <<<"$out" || miss="$miss $n"
done
check "ngrokctl list shows every endpoint with its address" \
	eval '[ $rc = 0 ] && [ -z "$miss" ]' 
[ -n "$miss" ] && echo "# missing:$miss; list: $(tr '\n' '|' <<<"$out")"

# Traffic by host name through ngrokd.
get() { as_app curl -sS -m 10 "$@" 2>&1; }
check "curl http://alpha.test/ (name from the hosts file) reaches backend A" \
	test "$(app_get http://alpha.test/)" = "backend A $$"
check "curl http://beta.test:443/ (https endpoint, port 443) reaches backend B" \
	test "$(app_get http://beta.test:443/)" = "backend B $$"
check "curl http://delta.test:5432/ (tcp endpoint with its port) reaches backend B" \
	test "$(app_get http://delta.test:5432/)" = "backend B $$"
check "the ingress got the bare host names and ports" \
	eval 'grep -q "host=alpha.test port=80 result=ok" "$T/ingress.log" && grep -q "host=beta.test port=443 result=ok" "$T/ingress.log" && grep -q "host=delta.test port=5432 result=ok" "$T/ingress.log"'
lj=$(ctl --json list 2>&1)
tot=$(json '[e["streams_total"] for e in j["endpoints"] if e["hostname"] == "alpha.test"][0]' <<<"$lj")
check "ngrokctl list counts the stream on alpha.test (streams_total=$tot)" test "${tot:-0}" -ge 1

# Add zeta, remove gamma: reflected within one poll interval (1 s; 2 s
# allowed for scheduling).
GAMMA=$(hosts_addr gamma.test)
before=$(block_map)
cloud_eps a b d e z
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
check "curl http://zeta.test/ reaches backend B" test "$(app_get http://zeta.test/)" = "backend B $$"
out=$(tcp_probe "$GAMMA" 80)
check "gamma's old address $GAMMA no longer accepts connections ($out)" test "$out" = ConnectionRefusedError

# Restart: every address kept, nothing provisioned again.
before=$(block_map)
posts=$(api_stats | json 'j["requests"].get("POST kubernetes_operators", 0)')
ngrokd_stop
check "SIGTERM: ngrokd exits 0 (in $NG_MS ms)" test "$NG_RC" = 0
check "SIGTERM: no ngrokd0 device left" eval '! ip -n "$NS" link show ngrokd0 >/dev/null 2>&1'
if cmp -s "$T/etc-hosts" "$T/etc-hosts.orig"; then
	ok "SIGTERM: the managed hosts block is removed, the rest byte for byte"
else
	notok "SIGTERM: the managed hosts block is removed, the rest byte for byte" \
		"hosts: $(od -c "$T/etc-hosts" | tail -4); log: $(tail -6 "$NGERR")"
fi
check "SIGTERM: the control socket is removed" test ! -e "$SOCK"
ngrokd_start
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
	test "$(app_get http://epsilon.test/)" = "backend A $$"

# An API outage (HTTP 500 on every request) keeps the endpoints working
# and shows in status; recovery shows too.
fault() { nsx curl -s -X POST -d "{\"fault\":\"$1\",\"count\":-1}" http://127.0.0.1:8000/_control/fault >/dev/null; }
api_state() { ctl --json status 2>/dev/null | json 'str(j["api_healthy"]) + " " + j["api_last_error"]'; }
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
check "API 500s: curl http://alpha.test/ still works" test "$(app_get http://alpha.test/)" = "backend A $$"
fault none
if wait_for 5 healthy; then ok "API back: status says api_healthy=true"
else notok "API back: status says api_healthy=true" "$(api_state)"; fi

# Lost state dir: the operator is adopted, not registered again.
ngrokd_stop
rm -rf "$T/state"
ngrokd_start
wait_for 20 has_names alpha.test beta.test delta.test epsilon.test zeta.test
wait_for 10 ctl health
opid=$(ctl --json status 2>/dev/null | json 'j["operator_id"]')
nops=$(api_stats | json 'len(j["operators"])')
check "a lost state dir adopts the same operator ($opid; $nops operator(s) at the API)" \
	eval '[ "$opid" = k8sop_0001 ] && [ "$nops" = 1 ]'
check "after adoption: curl http://zeta.test/ reaches backend B" \
	test "$(app_get http://zeta.test/)" = "backend B $$"

# SIGTERM while a poll is in flight (the API sleeps 5 s before answering):
# the hosts block must still go, and the daemon must not wait for the API.
fault slow
sleep 1.5
t0=$(date +%s%N)
kill -TERM "$NG_PID"
fault none	# only the request in flight is slow
ngrokd_stop
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
check "the API key never appears in ngrokd's output" ngrokd_kept_key
check "no sanitizer report from ngrokd" ngrokd_clean
tap_done
exit 0
