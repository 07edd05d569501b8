#!/bin/bash
# 91_wildcard.sh: wildcard endpoints through the DNS responder, with the
# real ngrokd against the fake API and the fake ingress in a private
# network namespace (the pattern of 60_daemon.sh).
#
# The namespace's resolver is the responder (/etc/netns/<ns>/resolv.conf,
# which `ip netns exec` mounts over /etc/resolv.conf inside it only), so
# `curl http://a.apps.example/` resolves through ngrokd: a.apps.example and
# b.apps.example get addresses of their own under *.apps.example and reach
# two different backends with their own names in the ConnRequest (the fake
# ingress routes by host and logs it).  Also: an exact endpoint beats the
# wildcard, the most specific wildcard wins, dns.wildcard_names bounds the
# names (NODATA, one log line), the address survives a restart (state.json),
# and goes when the wildcard endpoint is removed from the API.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/certs.sh
. tests/lib/cloud.sh

cloud_init 91 wc "wildcard tests"
cloud_require curl python3 openssl unshare dig
cloud_certs || cloud_setup_failed "test certificates made"
: > "$T/etc-hosts"
cloud_netns || cloud_setup_failed "create namespace $NS" "ip netns add failed"
# Inside the namespace only: names resolve through ngrokd's responder.
mkdir -p "/etc/netns/$NS"
at_exit "rm -rf '/etc/netns/$NS'"
printf 'nameserver 10.107.0.2\noptions timeout:2 attempts:2\n' > "/etc/netns/$NS/resolv.conf"

# --- backends, ingress, API ---------------------------------------------------
cloud_backend www-a 8080 "backend A $$"
cloud_backend www-b 8081 "backend B $$"
ROUTES=(--route a.apps.example:80=127.0.0.1:8080 --route b.apps.example:80=127.0.0.1:8081
	--route x.apps.example:80=127.0.0.1:8081)
EPS=([w]='http://*.apps.example' [d]='http://*.deep.apps.example' [x]=http://x.apps.example)
cloud_eps w d x
ingress_start && api_start && cloud_backends_up ||
	cloud_setup_failed "API, ingress and backends start"

# --- ngrokd ---------------------------------------------------------------------
cloud_config "$NG_CONFIG" "health:" "  enabled: false" "dns:" "  enabled: true" \
	"  wildcard_names: 4"
q() { nsx dig +time=2 +tries=1 @10.107.0.2 "$@" 2>&1; }	# q NAME [TYPE]
a_of() { q +short "$1" | head -1; }
status_of() { q "$1" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
list_json() { ctl --json list 2>/dev/null; }
state_wild() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('wildcard_names', {}).get(sys.argv[2], ''))" "$T/state/state.json" "$1" 2>/dev/null; }
state_addr() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['addresses'].get(sys.argv[2], ''))" "$T/state/state.json" "$1" 2>/dev/null; }

ngrokd_start
if wait_for 20 has_names x.apps.example && wait_for 10 ctl health; then
	ok "ngrokd is up with the three endpoints polled (x.apps.example in the hosts file)"
else
	notok "ngrokd is up with the three endpoints polled" "$(tail -5 "$NGERR")"
fi
check "wildcard endpoints are not in the hosts file" eval '! grep -q "\*" "$T/etc-hosts"'
st=$(ctl --json status 2>&1)
check "ngrokctl status: 3 endpoints, 0 wildcard names" \
	test "$(json '"%s %s" % (j["endpoints"], j["wildcard_names"])' <<<"$st")" = "3 0"

# --- addresses of their own -----------------------------------------------------
A1=$(a_of a.apps.example)
B1=$(a_of b.apps.example)
X=$(hosts_addr x.apps.example)
check "a.apps.example gets an address of its own in the subnet ($A1)" \
	eval '[[ "$A1" == 10.107.* ]] && [ "$A1" != "$X" ]'
check "b.apps.example gets another one ($B1)" eval '[[ "$B1" == 10.107.* ]] && [ "$B1" != "$A1" ]'
check "asked again, a.apps.example keeps its address (also over TCP)" \
	eval '[ "$(a_of a.apps.example)" = "$A1" ] && [ "$(q +tcp +short a.apps.example)" = "$A1" ]'
check "an exact endpoint beats the wildcard: x.apps.example is its polled address $X" \
	test "$(a_of x.apps.example)" = "$X"
out=$(q a.apps.example AAAA)
check "AAAA for a name under the wildcard is NODATA" \
	eval 'grep -q "status: NOERROR" <<<"$out" && grep -q "ANSWER: 0" <<<"$out"'
check "apps.example itself (not under *.apps.example) is REFUSED" \
	test "$(status_of apps.example)" = REFUSED
check "getent (the namespace's resolver) finds a.apps.example at $A1" \
	eval '[ "$(nsx getent ahostsv4 a.apps.example | awk "NR == 1 { print \$1 }")" = "$A1" ]'

# --- streams --------------------------------------------------------------------
check "curl http://a.apps.example/ reaches backend A" test "$(get http://a.apps.example/)" = "backend A $$"
check "curl http://b.apps.example/ reaches backend B" test "$(get http://b.apps.example/)" = "backend B $$"
check "the ingress got host=a.apps.example and host=b.apps.example in the ConnRequests" \
	eval 'grep -q "host=a.apps.example port=80 result=ok" "$T/ingress.log" && grep -q "host=b.apps.example port=80 result=ok" "$T/ingress.log"'
check "curl http://x.apps.example/ (the exact endpoint) reaches backend B" \
	test "$(get http://x.apps.example/)" = "backend B $$"
check "ngrokctl list: a.apps.example at $A1, id ep_w, under *.apps.example" \
	test "$(list_field address a.apps.example) $(list_field id a.apps.example) $(list_field wildcard a.apps.example)" = "$A1 ep_w *.apps.example"
tot=$(list_field streams_total '*.apps.example')
check "the streams count on the wildcard endpoint's row (streams_total=$tot)" test "${tot:-0}" -ge 2
out=$(ctl list 2>&1); rc=$?
check "ngrokctl list (text) shows the derived names" \
	eval '[ $rc = 0 ] && grep -q "a\.apps\.example .*$A1" <<<"$out" && grep -q "b\.apps\.example" <<<"$out"'
check "ngrokctl status: wildcard_names 2, still 3 endpoints" \
	test "$(ctl --json status 2>/dev/null | json '"%s %s" % (j["endpoints"], j["wildcard_names"])')" = "3 2"

# --- the most specific wildcard ---------------------------------------------------
Q=$(a_of q.deep.apps.example)
check "q.deep.apps.example gets an address ($Q) under the more specific *.deep.apps.example" \
	eval '[[ "$Q" == 10.107.* ]] && [ "$(list_field wildcard q.deep.apps.example)" = "*.deep.apps.example" ]'

# --- the limit (dns.wildcard_names: 4) --------------------------------------------
C1=$(a_of c.apps.example)
D1=$(a_of d.apps.example)
check "names 3 and 4 under *.apps.example get addresses ($C1, $D1)" \
	eval '[[ "$C1" == 10.107.* ]] && [[ "$D1" == 10.107.* ]]'
out=$(q e.apps.example)
check "name 5 under *.apps.example: NODATA (the limit is 4)" \
	eval 'grep -q "status: NOERROR" <<<"$out" && grep -q "ANSWER: 0" <<<"$out"'
q f.apps.example >/dev/null
q g.apps.example >/dev/null
n=$(grep -c "wildcard \*\.apps\.example has 4 names" "$NGERR")
check "the limit is logged once ($n line(s) for three refused names)" test "$n" = 1
check "names with an address keep answering at the limit" test "$(a_of a.apps.example)" = "$A1"

# --- persistence and restart --------------------------------------------------------
if wait_for 5 eval '[ "$(state_wild a.apps.example)" = "*.apps.example" ]'; then
	ok "state.json records a.apps.example under *.apps.example"
else
	notok "state.json records a.apps.example under *.apps.example" "$(cat "$T/state/state.json")"
fi
check "state.json holds its address $A1" test "$(state_addr a.apps.example)" = "$A1"
ngrokd_stop
check "SIGTERM: ngrokd exits 0" test "$NG_RC" = 0
ngrokd_start
wait_for 20 has_names x.apps.example
wait_for 10 ctl health
# The derived entries come back with the first poll, before any query.
check "after a restart, list shows a.apps.example at $A1 before any query" \
	wait_for 5 eval '[ "$(list_field address a.apps.example)" = "$A1" ]'
check "after a restart, a.apps.example answers $A1 and b.apps.example $B1" \
	eval '[ "$(a_of a.apps.example)" = "$A1" ] && [ "$(a_of b.apps.example)" = "$B1" ]'
check "after a restart, curl http://a.apps.example/ reaches backend A" \
	test "$(get http://a.apps.example/)" = "backend A $$"

# --- the wildcard endpoint goes -----------------------------------------------------------
cloud_eps d x
check "the wildcard removed from the API: a.apps.example is REFUSED within 5 s" \
	wait_for 5 eval '[ "$(status_of a.apps.example)" = REFUSED ]'
check "its names leave ngrokctl list" \
	wait_for 5 eval '! list_json | grep -q "\"a\.apps\.example\""'
check "and state.json: no wildcard name, no active address for a.apps.example" \
	wait_for 5 eval '[ -z "$(state_wild a.apps.example)" ] && [ -z "$(state_addr a.apps.example)" ]'
out=$(tcp_probe "$A1" 80)
check "a.apps.example's old address $A1 no longer accepts connections ($out)" \
	test "$out" = ConnectionRefusedError
check "the other wildcard's name stays (q.deep.apps.example = $Q)" \
	test "$(a_of q.deep.apps.example)" = "$Q"
cloud_eps w d x
check "the wildcard back: a.apps.example gets its old address $A1 again (released, remembered)" \
	wait_for 5 eval '[ "$(a_of a.apps.example)" = "$A1" ]'

ngrokd_stop
check "SIGTERM: ngrokd exits 0 again" test "$NG_RC" = 0
check "no sanitizer report from ngrokd" ngrokd_clean
tap_done
exit 0
