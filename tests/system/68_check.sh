#!/bin/bash
# 68_check.sh: `ngrokctl check` against the real ngrokd, the fake ngrok API
# (tests/fake/api.py) and the fake ingress (tests/fake/ingress) in a private
# network namespace (the set-up of 60_daemon.sh, smaller).
#
# A healthy set-up passes (exit 0, every line "ok"); then each injected fault
# must be named by the step that fails, with the others still ok:
#   a bad API key (api.py answers 401)     -> daemon
#   a client key that does not match       -> certificate
#   an ingress certificate from another CA -> ingress ("not trusted")
#   a client certificate the ingress refuses -> ingress (TLS alert)
#   an ingress that never answers TLS      -> ingress, within --timeout
#   an endpoint the ingress has no route for -> that endpoint, ERR_NGROK_3200
#   the daemon stopped                     -> daemon ("is ngrokd running?")
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/certs.sh

NGROKD=$OUT/ngrokd
NGROKCTL=$OUT/ngrokctl
INGRESS=$OUT/tests/fake/ingress
NS=ngrokdtest-$$-ck
T=$(mktemp -d /tmp/ngrokdtest-68.XXXXXX)
at_exit "[ -n \"${KEEP:-}\" ] || rm -rf '$T'"
KEY=test-key-$$-$RANDOM-secret

skip_all() { echo "ok 1 - ngrokctl check tests # SKIP $1"; echo "1..1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "needs root"
[ -c /dev/net/tun ] || skip_all "no /dev/net/tun"
for b in "$NGROKD" "$NGROKCTL" "$INGRESS"; do
	[ -x "$b" ] || { notok "$b is built" "missing (make test-build)"; tap_done; exit 0; }
done
for c in curl python3 openssl unshare; do
	command -v $c >/dev/null || skip_all "$c missing"
done

# c: the certificates of the test's cloud; other: an unrelated CA whose
# ingress certificate carries the same name.
certs_make "$T/c" ingress.test 2>"$T/certs.err" &&
	certs_make "$T/other" ingress.test 2>>"$T/certs.err" ||
	{ notok "test certificates made" "$(cat "$T/certs.err")"; tap_done; exit 0; }
C=$T/c
printf '127.0.0.1\tlocalhost\n127.0.0.1\tingress.test\n' > "$T/hosts"
printf '127.0.0.1\tlocalhost\n' > "$T/etc-hosts"

netns_new "$NS" || { notok "create namespace $NS" "ip netns add failed"; tap_done; exit 0; }
NSX=(ip netns exec "$NS" unshare -m --propagation private
	sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts")
nsx() { "${NSX[@]}" "$@"; }

# --- backend, ingress, API ----------------------------------------------------
mkdir -p "$T/www"
echo "backend $$" > "$T/www/index.html"
bg "${NSX[@]}" python3 -m http.server --bind 127.0.0.1 --directory "$T/www" 8080 \
	>"$T/http.log" 2>&1 </dev/null

# No route for gamma.test: the ingress refuses it with ERR_NGROK_3200.
ROUTES=(--route alpha.test:80=127.0.0.1:8080 --route beta.test:443=127.0.0.1:8080)
ING_PID=
ING_N=0
# start_ingress CERTDIR [FAULT...]
start_ingress() {
	local dir=$1 f args=()
	shift
	for f in "$@"; do args+=(--fault "$f"); done
	ING_N=$((ING_N + 1))
	bg "${NSX[@]}" "$INGRESS" --listen 127.0.0.1:4443 --cert "$dir/ingress.pem" \
		--key "$dir/ingress.key" --client-ca "$C/client-ca.pem" "${ROUTES[@]}" \
		"${args[@]}" --log "$T/ingress.log" >"$T/ingress$ING_N.out" \
		2>"$T/ingress$ING_N.err" </dev/null
	ING_PID=$BG_PID
	wait_for 5 grep -q '^listening' "$T/ingress$ING_N.out"
}
stop_ingress() {
	kill -TERM "$ING_PID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$ING_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$ING_PID" 2>/dev/null
	wait "$ING_PID" 2>/dev/null
}

ep() { printf '{"id":"%s","uri":"http://127.0.0.1:8000/endpoints/%s","url":"%s","proto":"%s","hostname":"%s"}' \
	"$1" "$1" "$2" "$3" "$4"; }
write_eps() {
	local out="[" sep="" i
	for i in "$@"; do
		case $i in
		a) out+="$sep$(ep ep_a http://alpha.test http alpha.test)";;
		b) out+="$sep$(ep ep_b https://beta.test https beta.test)";;
		g) out+="$sep$(ep ep_g http://gamma.test http gamma.test)";;
		esac
		sep=,
	done
	echo "$out]" > "$T/eps.json.tmp" && mv "$T/eps.json.tmp" "$T/eps.json"
}
write_eps a b
bg "${NSX[@]}" python3 tests/fake/api.py --port 8000 --key "$KEY" --endpoints "$T/eps.json" \
	--ca-cert "$C/client-ca.pem" --ca-key "$C/client-ca.key" \
	--ingress ingress.test:4443 >"$T/api.out" 2>"$T/api.err" </dev/null

start_ingress "$C" &&
	wait_for 10 grep -q listening "$T/api.out" &&
	wait_for 10 nsx curl -sf -o /dev/null http://127.0.0.1:8080/ ||
	{ notok "API, ingress and backend start" "$(cat "$T"/api.err "$T"/ingress*.err "$T"/http.log | tail -5)"; tap_done; exit 0; }

# --- ngrokd ---------------------------------------------------------------------
SOCK=$T/run/ngrokd.sock
cat > "$T/ngrokd.yml" <<EOF
api:
  url: http://127.0.0.1:8000
ingressEndpoint: ingress.test:4443
server:
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
  enabled: false
EOF
bg env NGROK_API_KEY="$KEY" "${NSX[@]}" "$NGROKD" --config "$T/ngrokd.yml" \
	--foreground >"$T/ngrokd.out" 2>"$T/ngrokd.err" </dev/null
NG_PID=$BG_PID
ctl() { nsx "$NGROKCTL" --socket "$SOCK" "$@"; }
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)" 2>/dev/null; }
nendpoints() { ctl --json list 2>/dev/null | json 'len(j["data"]["endpoints"])'; }
api_healthy() { ctl --json status 2>/dev/null | json 'j["data"]["api_healthy"]'; }
if ! wait_for 20 ctl health || ! wait_for 10 eval '[ "$(nendpoints)" = 2 ]'; then
	notok "ngrokd registers and lists 2 endpoints" "$(tail -5 "$T/ngrokd.err")"
	tap_done; exit 0
fi

# run_check NAME [ARGS...]: ngrokctl check in the namespace (the socket from
# the config); output in $T/NAME.out, exit status in RC, time in MS.
run_check() {
	local name=$1 s
	shift
	s=$(date +%s%N)
	nsx "$NGROKCTL" --config "${CFG:-$T/ngrokd.yml}" "$@" check ${ONLY:-} \
		>"$T/$name.out" 2>"$T/$name.err"
	RC=$?
	MS=$(( ($(date +%s%N) - s) / 1000000 ))
}
out_of() { tr '\n' '|' < "$T/$1.out"; cat "$T/$1.err"; }
# has NAME REGEX: a line of the output matches
has() { grep -Eq "$2" "$T/$1.out"; }
# only_failed NAME STEP: exactly one FAILED line, for STEP
only_failed() {
	[ "$(grep -c '^FAILED' "$T/$1.out")" = 1 ] && grep -q "^FAILED $2" "$T/$1.out"
}
# verdict WHAT NAME CONDITION...
verdict() {
	local what=$1 name=$2
	shift 2
	if eval "$*"; then ok "$what"; else notok "$what" "rc=$RC: $(out_of "$name")"; fi
}

# --- all well -------------------------------------------------------------------
run_check good
verdict "healthy: exit 0, every line ok" good \
	'[ $RC = 0 ] && ! grep -qv "^ok   " "$T/good.out"'
verdict "healthy: one line per step (config, daemon, certificate, ingress, 2 endpoints)" good \
	'[ "$(grep -c . "$T/good.out")" = 6 ] && has good "^ok   config: " && has good "^ok   daemon: registered as k8sop_" && has good "^ok   certificate: " && has good "^ok   ingress: ingress.test:4443 "'
verdict "certificate: the days left are shown (29 or 30 of a 30-day certificate)" good \
	'has good "^ok   certificate: $T/state/tls.crt, key matches, valid for (29|30) more days"'
verdict "ingress: a verified TLS handshake with the client certificate accepted" good \
	'has good "^ok   ingress: .*TLSv1\.[23] .*certificate verified, client certificate accepted"'
verdict "endpoints: the ConnResponse's endpoint id and proto are printed" good \
	'has good "^ok   endpoint alpha\.test:80: accepted as ep_alpha\.test \(http\)" && has good "^ok   endpoint beta\.test:443: accepted as ep_beta\.test \(http\)"'
check "the fake ingress saw the ConnRequests of the check" \
	eval 'grep -q "host=alpha.test port=80 result=ok" "$T/ingress.log" && grep -q "host=beta.test port=443 result=ok" "$T/ingress.log"'

ONLY=beta.test run_check only
verdict "check beta.test: only that endpoint is tried" only \
	'[ $RC = 0 ] && has only "^ok   endpoint beta\.test:443" && ! has only "alpha"'
ONLY=nosuch.test run_check nosuch
verdict "check nosuch.test: FAILED endpoints, not among ngrokd's endpoints, exit 1" nosuch \
	'[ $RC = 1 ] && only_failed nosuch "endpoints: nosuch\.test is not among"'

# --- a bad API key --------------------------------------------------------------
echo "wrong-key-$$" | ctl set-api-key - >/dev/null 2>&1
wait_for 10 eval '[ "$(api_healthy)" = False ]'
run_check badkey
verdict "bad API key: the daemon step FAILED with the API's 401, exit 1" badkey \
	'[ $RC = 1 ] && only_failed badkey "daemon: the ngrok API does not answer with the key: .*401"'
verdict "bad API key: certificate, ingress and endpoints still ok" badkey \
	'has badkey "^ok   certificate" && has badkey "^ok   ingress" && has badkey "^ok   endpoint alpha"'
echo "$KEY" | ctl set-api-key - >/dev/null 2>&1
wait_for 10 eval '[ "$(api_healthy)" = True ]'
run_check goodkey
verdict "the right key again: check passes" goodkey '[ $RC = 0 ]'

# --- certificate faults (a copy of the config with other files) -----------------
sed "s|^  state_dir: .*|&\n  client_cert: $T/state/tls.crt\n  client_key: $C/client.key|" \
	"$T/ngrokd.yml" > "$T/mismatch.yml"
CFG=$T/mismatch.yml run_check mismatch
verdict "a key that does not match the certificate: certificate FAILED, exit 1" mismatch \
	'[ $RC = 1 ] && has mismatch "^FAILED certificate: the key $C/client.key does not match the certificate"'
verdict "no usable certificate: ingress and endpoints not tried, daemon still ok" mismatch \
	'has mismatch "^ok   daemon" && has mismatch "^FAILED ingress: not tried" && has mismatch "^FAILED endpoint alpha.test:80: not tried"'

sed "s|^  state_dir: .*|&\n  client_cert: $C/untrusted.pem\n  client_key: $C/untrusted.key|" \
	"$T/ngrokd.yml" > "$T/foreign.yml"
CFG=$T/foreign.yml run_check foreign
verdict "a client certificate the ingress does not trust: ingress FAILED with the TLS alert" foreign \
	'[ $RC = 1 ] && has foreign "^ok   certificate" && has foreign "^FAILED ingress: ingress\.test:4443: the ingress refused our client certificate \(TLS alert [a-z_]+\)"'

sed "s|^  state_dir: .*|&\n  client_cert: $T/none.crt|" "$T/ngrokd.yml" > "$T/missing.yml"
CFG=$T/missing.yml run_check missing
verdict "a missing certificate file: certificate FAILED naming the file" missing \
	'[ $RC = 1 ] && has missing "^FAILED certificate: $T/none\.crt: No such file or directory"'
unset CFG

# --- the ingress: untrusted, silent ---------------------------------------------
stop_ingress
start_ingress "$T/other" ||
	notok "the ingress restarts with a certificate from another CA" "$(cat "$T/ingress$ING_N.err")"
run_check untrusted
verdict "ingress certificate from another CA: ingress FAILED, not trusted, exit 1" untrusted \
	'[ $RC = 1 ] && has untrusted "^FAILED ingress: ingress\.test:4443: the ingress certificate is not trusted"'
verdict "untrusted ingress: daemon and certificate ok, endpoints not tried" untrusted \
	'has untrusted "^ok   daemon" && has untrusted "^ok   certificate" && has untrusted "^FAILED endpoint alpha\.test:80: not tried: the ingress step failed"'

stop_ingress
start_ingress "$C" no-tls ||
	notok "the ingress restarts mute (accepts TCP, never answers)" "$(cat "$T/ingress$ING_N.err")"
run_check mute --timeout 2
verdict "a mute ingress: ingress FAILED after the 2 s timeout (took $MS ms)" mute \
	'[ $RC = 1 ] && has mute "^FAILED ingress: .*within 2 s" && [ $MS -ge 1900 ] && [ $MS -lt 6000 ]'

stop_ingress
start_ingress "$C" ||
	notok "the ingress restarts as it was" "$(cat "$T/ingress$ING_N.err")"
run_check restored
verdict "the ingress restored: check passes" restored '[ $RC = 0 ]'

# --- a refused ConnRequest ------------------------------------------------------
write_eps a b g
wait_for 10 eval '[ "$(nendpoints)" = 3 ]'
run_check refused
verdict "an endpoint without a route: that endpoint FAILED with ERR_NGROK_3200, exit 1" refused \
	'[ $RC = 1 ] && only_failed refused "endpoint gamma\.test:80: refused by the ingress: ERR_NGROK_3200"'
verdict "the refused endpoint does not hide the others (alpha, beta ok)" refused \
	'has refused "^ok   endpoint alpha\.test:80" && has refused "^ok   endpoint beta\.test:443"'
ONLY=alpha.test run_check only_ok
verdict "check alpha.test with gamma refused: exit 0" only_ok '[ $RC = 0 ]'
ONLY=ep_g run_check only_g
verdict "check ep_g (by id): exit 1, gamma FAILED" only_g \
	'[ $RC = 1 ] && only_failed only_g "endpoint gamma\.test:80"'

# --- no daemon ------------------------------------------------------------------
kill -TERM "$NG_PID"
for _ in $(seq 100); do kill -0 "$NG_PID" 2>/dev/null || break; sleep 0.1; done
run_check nodaemon
verdict "ngrokd stopped: daemon FAILED (is ngrokd running?), exit 1" nodaemon \
	'[ $RC = 1 ] && has nodaemon "^FAILED daemon: $SOCK: No such file or directory \(is ngrokd running\?\)"'
verdict "ngrokd stopped: the endpoints are not tried (no list)" nodaemon \
	'has nodaemon "^FAILED endpoints: not tried: the daemon step failed"'

check "the client key never appears in ngrokctl's output" \
	eval '! cat "$T"/*.out "$T"/*.err | grep -qF "$(sed -n 2p "$T/state/tls.key")"'
check "no sanitizer report from ngrokctl" \
	eval '! cat "$T"/*.err | grep -qE "AddressSanitizer|LeakSanitizer|runtime error"'
tap_done
exit 0
