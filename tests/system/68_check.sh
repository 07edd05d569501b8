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
. tests/lib/cloud.sh

cloud_init 68 ck "ngrokctl check tests"
cloud_require curl python3 openssl unshare
# c: the certificates of the test's cloud; other: an unrelated CA whose
# ingress certificate carries the same name.
cloud_certs && certs_make "$T/other" ingress.test 2>>"$T/certs.err" ||
	cloud_setup_failed "test certificates made"
printf '127.0.0.1\tlocalhost\n' > "$T/etc-hosts"
cloud_netns || cloud_setup_failed "create namespace $NS" "ip netns add failed"

# --- backend, ingress, API ----------------------------------------------------
cloud_backend www 8080 "backend $$"
# No route for gamma.test: the ingress refuses it with ERR_NGROK_3200.
ROUTES=(--route alpha.test:80=127.0.0.1:8080 --route beta.test:443=127.0.0.1:8080)
EPS=([a]=http://alpha.test [b]=https://beta.test [g]=http://gamma.test)
cloud_eps a b
ingress_start && api_start && cloud_backends_up ||
	cloud_setup_failed "API, ingress and backend start"

# --- ngrokd ---------------------------------------------------------------------
cloud_config "$NG_CONFIG" "health:" "  enabled: false"
ngrokd_start
nendpoints() { ctl --json list 2>/dev/null | json 'len(j["endpoints"])'; }
api_healthy() { status_field api_healthy; }
if ! wait_for 20 ctl health || ! wait_for 10 eval '[ "$(nendpoints)" = 2 ]'; then
	notok "ngrokd registers and lists 2 endpoints" "$(tail -5 "$NGERR")"
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
ingress_stop
ING_CERTS=$T/other ingress_start ||
	notok "the ingress restarts with a certificate from another CA" "$(cat "$T/ingress$ING_N.err")"
run_check untrusted
verdict "ingress certificate from another CA: ingress FAILED, not trusted, exit 1" untrusted \
	'[ $RC = 1 ] && has untrusted "^FAILED ingress: ingress\.test:4443: the ingress certificate is not trusted"'
verdict "untrusted ingress: daemon and certificate ok, endpoints not tried" untrusted \
	'has untrusted "^ok   daemon" && has untrusted "^ok   certificate" && has untrusted "^FAILED endpoint alpha\.test:80: not tried: the ingress step failed"'

ingress_stop
ingress_start --fault no-tls ||
	notok "the ingress restarts mute (accepts TCP, never answers)" "$(cat "$T/ingress$ING_N.err")"
run_check mute --timeout 2
verdict "a mute ingress: ingress FAILED after the 2 s timeout (took $MS ms)" mute \
	'[ $RC = 1 ] && has mute "^FAILED ingress: .*within 2 s" && [ $MS -ge 1900 ] && [ $MS -lt 6000 ]'

ingress_stop
ingress_start ||
	notok "the ingress restarts as it was" "$(cat "$T/ingress$ING_N.err")"
run_check restored
verdict "the ingress restored: check passes" restored '[ $RC = 0 ]'

# --- a refused ConnRequest ------------------------------------------------------
cloud_eps a b g
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
ngrokd_stop 10
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
