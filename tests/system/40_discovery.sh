#!/bin/bash
# 40_discovery.sh: the discovery client (tests/fake/disc_probe) against the
# fake ngrok API (tests/fake/api.py) on 127.0.0.1.  Provisioning, a 3-page
# listing, the hosts file, stable addresses across restarts, adoption after
# losing the state, API faults, deregistration.  Loopback only.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/release}
PROBE=${PROBE:-$OUT/tests/fake/disc_probe}
T=$(mktemp -d /tmp/ngrokd-40.XXXXXX)
API_PID=
PROBE_PID=
cleanup() {
	[ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null
	[ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; echo "# $2"; }
check() { if eval "$2"; then ok "$1"; else nok "$1" "${3:-$2}"; fi; }

if [ ! -x "$PROBE" ] || ! command -v openssl >/dev/null || ! command -v python3 >/dev/null; then
	echo "ok 1 - # SKIP disc_probe, openssl or python3 missing"
	exit 0
fi

KEY=key-$$-secret
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 -subj /CN=ngrokd-test-ca 2>/dev/null
ep() { printf '{"id":"%s","uri":"https://api/x/%s","url":"%s","proto":"%s"}' "$1" "$1" "$2" "$3"; }
write_eps() { # ids... from a fixed catalogue
	local out="[" sep="" i
	for i in "$@"; do
		case $i in
		1) out+="$sep$(ep ep_1 http://alpha.example http)";;
		2) out+="$sep$(ep ep_2 https://alpha.example https)";;
		3) out+="$sep$(ep ep_3 https://beta.example https)";;
		4) out+="$sep$(ep ep_4 tcp://1.tcp.example:12345 tcp)";;
		5) out+="$sep$(ep ep_5 https://gamma.example https)";;
		6) out+="$sep$(ep ep_6 https://delta.example https)";;
		esac
		sep=,
	done
	echo "$out]" > "$T/eps.json.tmp" && mv "$T/eps.json.tmp" "$T/eps.json"
}
write_eps 1 2 3 4 5

python3 tests/fake/api.py --key "$KEY" --endpoints "$T/eps.json" \
    --ca-cert "$T/ca.pem" --ca-key "$T/ca.key" --page-size 2 \
    --ingress 127.0.0.1:4443 --state "$T/api-state.json" > "$T/api.out" 2> "$T/api.err" &
API_PID=$!
for _ in $(seq 50); do grep -q listening "$T/api.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(awk '/listening/ {print $2}' "$T/api.out")
API=http://127.0.0.1:$PORT
fault() { curl -s -X POST -d "{\"fault\":\"$1\",\"count\":${2:--1}}" "$API/_control/fault" >/dev/null; }
operators() { curl -s "$API/_control/stats" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["operators"]))'; }

printf '127.0.0.1 localhost\n# a comment kept as is\n::1 ip6-localhost' > "$T/hosts"
cp "$T/hosts" "$T/hosts.orig"
probe() { "$PROBE" --api "$API" --state "$T/state" --hosts "$T/hosts" --interval-ms 500 "$@" 2>>"$T/probe.err"; }

# 1. Provisioning from an empty state dir with only a key; 3 pages.
out=$(probe --key "$KEY" --expect 5); rc=$?
check "first run provisions and lists 5 endpoints from 3 pages" '[ $rc -eq 0 ] && [ $(echo "$out" | grep -c "^ep ") -eq 5 ]' "$out"
check "status: registered, api ok" 'echo "$out" | grep -q "registered=1 operator=k8sop_0001 ingress=127.0.0.1:4443 api_ok=1"' "$out"
check "key 0600, certificate signed by the test CA" \
    '[ "$(stat -c %a "$T/state/tls.key")" = 600 ] && openssl verify -CAfile "$T/ca.pem" "$T/state/tls.crt" >/dev/null 2>&1'
check "the CSR had an empty subject and a P-384 key" \
    'openssl x509 -in "$T/state/tls.crt" -noout -subject -text | grep -q "ASN1 OID: secp384r1" && [ "$(openssl x509 -in "$T/state/tls.crt" -noout -subject | sed "s/subject= *//")" = "" ]'
check "state.json is 0600" '[ "$(stat -c %a "$T/state/state.json")" = 600 ]'
check "endpoints of one host share an address" \
    '[ "$(echo "$out" | awk "/^ep alpha.example/ {print \$4}" | sort -u | wc -l)" = 1 ]' "$out"
check "hosts file block lists 4 names sorted, first address .3" \
    '[ "$(sed -n "/# BEGIN ngrokd/,/# END ngrokd/p" "$T/hosts" | grep -c "^10\.107\.")" = 4 ] && sed -n "/# BEGIN ngrokd/,/# END ngrokd/p" "$T/hosts" | grep "^10" | awk "{print \$2}" | sort -c && grep -q "^10.107.0.3 " "$T/hosts"' "$(cat "$T/hosts")"
check "hosts file: other bytes kept (no final newline added to them)" \
    '[ "$(head -c $(stat -c %s "$T/hosts.orig") "$T/hosts" | cmp - "$T/hosts.orig" && echo same)" = same ]'
before=$(echo "$out" | grep "^ep " | sort)

# 2. Restart: same operator, same addresses, no new registration.
out=$(probe --key "$KEY" --expect 5)
check "restart keeps every address" '[ "$(echo "$out" | grep "^ep " | sort)" = "$before" ]' "$out"
check "restart registers nothing new" '[ "$(operators)" = 1 ]'

# 3. Endpoint added and one removed: reflected, others keep addresses.
write_eps 1 2 3 4 6
out=$(probe --key "$KEY" --expect 5)
check "removed endpoint gone, new one listed" 'echo "$out" | grep -q "^ep delta.example" && ! echo "$out" | grep -q gamma' "$out"
check "the new host gets a never-used address (not gamma's)" \
    '[ "$(echo "$out" | awk "/^ep delta/ {print \$4}")" = 10.107.0.7 ]' "$out"
check "unchanged hosts keep their addresses" \
    '[ "$(echo "$out" | grep -v delta | grep "^ep " | sort)" = "$(echo "$before" | grep -v gamma)" ]' "$out"

# 4. Faults: the previous set stays, status says what is wrong.
write_eps 1 2 3 4 6
probe --key "$KEY" --expect 999 --run-ms 3000 > "$T/fault.out" &
PROBE_PID=$!
sleep 1.2; fault 500
wait $PROBE_PID; PROBE_PID=
out=$(cat "$T/fault.out"); fault none
check "HTTP 500 during a run keeps the 5 endpoints" '[ $(echo "$out" | grep -c "^ep ") -eq 5 ] && echo "$out" | grep -q "api_ok=0.*HTTP 500"' "$out"
for f in garbage truncated; do
	probe --key "$KEY" --expect 999 --run-ms 2500 > "$T/fault.out" &
	PROBE_PID=$!
	sleep 1.2; fault $f
	wait $PROBE_PID; PROBE_PID=
	out=$(cat "$T/fault.out"); fault none
	check "$f JSON keeps the endpoints and is reported" '[ $(echo "$out" | grep -c "^ep ") -eq 5 ] && echo "$out" | grep -q "not a JSON object"' "$out"
done
fault ngrok-error
out=$(probe --key "$KEY" --run-ms 1500); fault none
check "ERR_NGROK_19002 becomes a plain message" 'echo "$out" | grep -q "bindings (Kubernetes bound endpoints) are not enabled"' "$out"
out=$(probe --key wrong-key --run-ms 1500)
check "a wrong key is reported as rejected" 'echo "$out" | grep -q "key_rejected=1" && echo "$out" | grep -q "rejected (HTTP 401)"' "$out"
fault 429
out=$("$PROBE" --api "$API" --state "$T/state" --hosts "$T/hosts" --interval-ms 8000 --key "$KEY" --run-ms 2600 2>>"$T/probe.err"); fault none
fails=$(echo "$out" | sed -n "s/.*failures=\([0-9]*\).*/\1/p")
check "429 retries with exponential backoff (2..3 tries in 2.6 s, poll 8 s)" 'echo "$out" | grep -q "HTTP 429" && [ "$fails" -ge 2 ] && [ "$fails" -le 3 ]' "$out"

# 5. Corrupt state: set aside, and the operator is adopted (not duplicated).
echo '{"version":1,"operator_id":' > "$T/state/state.json"
out=$(probe --key "$KEY" --expect 5)
check "corrupt state is moved to state.json.bad" '[ -f "$T/state/state.json.bad" ]'
check "lost state adopts the same operator" 'echo "$out" | grep -q "operator=k8sop_0001" && [ "$(operators)" = 1 ]' "$out"
rm -rf "$T/state"
out=$(probe --key "$KEY" --expect 5)
check "deleted state dir: adopted again, still one operator" 'echo "$out" | grep -q "operator=k8sop_0001" && [ "$(operators)" = 1 ]' "$out"

# 6. set-api-key from nothing.
rm -rf "$T/state2"
out=$("$PROBE" --api "$API" --state "$T/state2" --hosts "$T/hosts" --interval-ms 500 --set-key "$KEY" --expect 5 2>>"$T/probe.err")
check "set-api-key stores the key 0600 and provisions" '[ "$(stat -c %a "$T/state2/api_key")" = 600 ] && echo "$out" | grep -q registered=1' "$out"

# 7. Deregister: the operator is deleted and the credentials removed.
out=$(probe --key "$KEY" --deregister)
check "deregister leaves no operator behind" '[ "$(operators)" = 0 ] && [ ! -f "$T/state/tls.key" ]' "$out"
check "the API key never appears in a log line" '! grep -q "$KEY" "$T/probe.err"'
check "no sanitizer report from the probe" '! grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$T/probe.err"' "$(grep -E -A5 "Sanitizer|runtime error" "$T/probe.err" | head -20)"
exit 0
