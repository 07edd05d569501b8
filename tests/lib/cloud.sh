# tests/lib/cloud.sh: the fake ngrok cloud and the real ngrokd in a private
# network namespace, for the system tests and the soak.  Source it after
# tests/lib/tap.sh and tests/lib/certs.sh.
#
# The cloud: the fake ngrok API (tests/fake/api.py) on 127.0.0.1:8000, the
# fake binding ingress (tests/fake/ingress) on 127.0.0.1:4443 as
# ingress.test, and http.server backends, all inside the namespace $NS.
# ngrokd runs there too, with a generated configuration whose every path
# lives in the temporary directory $T.  A test goes:
#
#   cloud_init 60 dm "daemon tests"    names, $T, $KEY; removed at exit
#   cloud_require curl python3 ...     skip unless root, TUN, commands
#   cloud_certs || cloud_setup_failed "test certificates made"
#   cloud_netns || cloud_setup_failed "create namespace $NS"
#   cloud_backend www-a 8080 "backend A $$"
#   ROUTES=(--route alpha.test:80=127.0.0.1:8080)
#   EPS=([a]=http://alpha.test); cloud_eps a
#   ingress_start && api_start && cloud_backends_up ||
#       cloud_setup_failed "API, ingress and backends start"
#   cloud_config "$NG_CONFIG" "health:" "  enabled: false"
#   ngrokd_start ... ngrokd_stop
#
# Variables set by cloud_init: NGROKD NGROKCTL INGRESS BLAST (the binaries),
# NS, T, KEY (the API key), C (the certificates, cloud_certs), NSX (the
# command prefix that runs in the namespace with $T/hosts as /etc/hosts:
# "${NSX[@]}" CMD), SOCK, NG_CONFIG, NG_STATE, NG_HOSTS (ngrokd's control
# socket, configuration, state dir and hosts file), NG_PID, NGERR (the
# running ngrokd and its stderr), ING_PID, API_PID.

declare -gA EPS=()	# cloud_eps KEY: the endpoint URL of KEY

# --- set-up ---------------------------------------------------------------------

# cloud_init NN NS-SUFFIX WHAT: the names of one test (NN: its number, for
# the temporary directory; WHAT: for the skip line).
cloud_init() {
	CLOUD_WHAT=$3
	NGROKD=$OUT/ngrokd
	NGROKCTL=$OUT/ngrokctl
	INGRESS=$OUT/tests/fake/ingress
	BLAST=$OUT/tests/fake/blast
	NS=ngrokdtest-$$-$2
	T=$(mktemp -d "/tmp/ngrokdtest-$1.XXXXXX")
	at_exit "[ -n \"${KEEP:-}\" ] || rm -rf '$T'"
	KEY=test-key-$$-$RANDOM-secret
	C=$T/c
	NSX=(ip netns exec "$NS" unshare -m --propagation private
		sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts")
	SOCK=$T/run/ngrokd.sock
	NG_CONFIG=$T/ngrokd.yml
	NG_STATE=$T/state
	NG_HOSTS=$T/etc-hosts
	NG_PID= NG_N=0 NGERR=
	ING_PID= ING_N=0
	API_PID= API_N=0
	CLOUD_PORTS=""
}

# skip_all REASON: the whole test is skipped (TAP), exit 0.
skip_all() {
	echo "ok 1 - ${CLOUD_WHAT:+$CLOUD_WHAT }# SKIP $1"
	echo "1..1"
	exit 0
}

# cloud_require [--no-tun] [BINARY...] [COMMAND...]: skips the test unless
# it runs as root with /dev/net/tun (not with --no-tun) and every COMMAND
# is installed; a missing BINARY (an argument with a slash) of ours, like
# ngrokd, ngrokctl and the fake ingress, which are always required, is a
# failure: the build is incomplete.
cloud_require() {
	local tun=1 a
	[ "${1:-}" = --no-tun ] && { tun=0; shift; }
	[ "$(id -u)" = 0 ] || skip_all "needs root"
	[ "$tun" = 0 ] || [ -c /dev/net/tun ] || skip_all "no /dev/net/tun"
	for a in "$NGROKD" "$NGROKCTL" "$INGRESS" "$@"; do
		[[ $a == */* ]] || continue
		[ -x "$a" ] || { notok "$a is built" "missing (make test-build)"; tap_done; exit 0; }
	done
	for a in "$@"; do
		[[ $a == */* ]] && continue
		command -v "$a" >/dev/null || skip_all "$a missing"
	done
}

# cloud_setup_failed WHAT [DETAIL]: reports WHAT as failed, with DETAIL or
# the last lines of every log in $T, and ends the test.
cloud_setup_failed() {
	notok "$1" "${2:-$(tail -n 3 "$T"/*.err "$T"/*.log 2>/dev/null)}"
	tap_done
	exit 0
}

# cloud_certs: the test certificates in $C (tests/lib/certs.sh: the
# ingress's for ingress.test, the client CA the API signs with) and $T/hosts,
# what the cloud's processes see as /etc/hosts: ingress.test is 127.0.0.1.
cloud_certs() {
	certs_make "$C" ingress.test 2>"$T/certs.err" || return 1
	printf '127.0.0.1\tlocalhost\n127.0.0.1\tingress.test\n' > "$T/hosts"
}

# cloud_netns: the namespace $NS (removed at exit), with lo up.
cloud_netns() {
	netns_new "$NS"
}

# cloud_backend DIR PORT [TEXT]: python3 -m http.server on 127.0.0.1:PORT in
# the namespace, serving $T/DIR (whose index.html is TEXT when given); its
# log in $T/DIR.log.
cloud_backend() {
	mkdir -p "$T/$1"
	[ $# -lt 3 ] || echo "$3" > "$T/$1/index.html"
	bg "${NSX[@]}" python3 -m http.server --bind 127.0.0.1 --directory "$T/$1" "$2" \
		>"$T/$1.log" 2>&1 </dev/null
	CLOUD_PORTS="$CLOUD_PORTS $2"
}

# cloud_backends_up: every backend answers.
cloud_backends_up() {
	local p
	for p in $CLOUD_PORTS; do
		wait_for 10 nsx curl -sf -o /dev/null "http://127.0.0.1:$p/" || return 1
	done
}

# ingress_start [ARG...]: the fake ingress on 127.0.0.1:4443 in the
# namespace with the certificate in ${ING_CERTS:-$C}, trusting the client
# CA, routing ${ROUTES[@]} and logging every ConnRequest to $T/ingress.log;
# ARGs are added (--fault no-tls).  Sets ING_PID; output in $T/ingressN.out
# and .err.  Returns once it listens, non-zero if it does not within 15 s.
ingress_start() {
	local dir=${ING_CERTS:-$C}
	ING_N=$((ING_N + 1))
	bg "${NSX[@]}" "$INGRESS" --listen 127.0.0.1:4443 --cert "$dir/ingress.pem" \
		--key "$dir/ingress.key" --client-ca "$C/client-ca.pem" "${ROUTES[@]}" \
		--log "$T/ingress.log" "$@" >"$T/ingress$ING_N.out" \
		2>"$T/ingress$ING_N.err" </dev/null
	ING_PID=$BG_PID
	within 15 grep -q '^listening' "$T/ingress$ING_N.out"
}

# ingress_stop [SIGNAL]: sends SIGNAL (TERM) to the ingress, SIGKILL after 5 s.
ingress_stop() {
	[ -n "$ING_PID" ] || return 0
	stop_pid "$ING_PID" 5 "${1:-TERM}"
	ING_PID=
}

# cloud_eps KEY...: the bound endpoints the fake API lists, written
# atomically to $T/eps.json: for each KEY, id ep_KEY with the URL
# ${EPS[KEY]}, whose scheme is the proto and whose host the hostname
# (http://alpha.test, tcp://delta.test:5432, http://*.apps.example).
cloud_eps() {
	local out="[" sep="" k url host e
	for k in "$@"; do
		url=${EPS[$k]}
		host=${url#*://}
		host=${host%%[:/]*}
		printf -v e '{"id":"ep_%s","uri":"http://127.0.0.1:8000/endpoints/ep_%s","url":"%s","proto":"%s","hostname":"%s"}' \
			"$k" "$k" "$url" "${url%%://*}" "$host"
		out+="$sep$e"
		sep=,
	done
	echo "$out]" > "$T/eps.json.tmp" && mv "$T/eps.json.tmp" "$T/eps.json"
}

# api_start [ARG...]: the fake ngrok API on 127.0.0.1:8000 in the namespace:
# the key $KEY, the endpoints of $T/eps.json, client certificates signed by
# the client CA, the ingress at ingress.test:4443; ARGs are added
# (--page-size N, --cert-days N, --state FILE).  Sets API_PID; output in
# $T/apiN.out and .err.  Returns once it listens, non-zero if it does not
# within 15 s.
api_start() {
	API_N=$((API_N + 1))
	bg "${NSX[@]}" python3 tests/fake/api.py --port 8000 --key "$KEY" \
		--endpoints "$T/eps.json" --ca-cert "$C/client-ca.pem" \
		--ca-key "$C/client-ca.key" --ingress ingress.test:4443 "$@" \
		>"$T/api$API_N.out" 2>"$T/api$API_N.err" </dev/null
	API_PID=$BG_PID
	within 15 grep -q listening "$T/api$API_N.out"
}

# cloud_config FILE [YAML...]: ngrokd's configuration against the fake
# cloud: the socket, state dir and hosts file of $SOCK, $NG_STATE and
# $NG_HOSTS, log level ${LOGLEVEL:-info}, the endpoints polled every
# ${POLL:-1s}, net.mode ${NET_MODE:-tun} on ngrokd0 in 10.107.0.0/16, the
# ingress's CA; $SERVER_MORE and $NET_MORE are further keys (lines, indented)
# of server: and net:.  Each YAML
# argument is a line appended (further sections: health:, dns:, limits:).
cloud_config() {
	local f=$1
	shift
	cat > "$f" <<EOF
api:
  url: http://127.0.0.1:8000
ingressEndpoint: ingress.test:4443
server:
  log_level: ${LOGLEVEL:-info}
  socket_path: $SOCK
  state_dir: $NG_STATE
  hosts_file: $NG_HOSTS
${SERVER_MORE:+$SERVER_MORE
}bound_endpoints:
  poll_interval: ${POLL:-1s}
net:
  mode: ${NET_MODE:-tun}
  interface_name: ngrokd0
  subnet: 10.107.0.0/16
${NET_MORE:+$NET_MORE
}tls:
  ca_file: $C/ca.pem
EOF
	[ $# -eq 0 ] || printf '%s\n' "$@" >> "$f"
}

# --- ngrokd -----------------------------------------------------------------------

# ngrokd_start [CMD...]: ngrokd --foreground with $NG_CONFIG and
# NGROK_API_KEY in the namespace; CMD (setpriv ...) runs it when given.
# Sets NG_PID (ngrokd's own: every wrapper execs) and NGERR; the output of
# the Nth start is in $T/ngrokdN.out and $T/ngrokdN.err.
ngrokd_start() {
	NG_N=$((NG_N + 1))
	NGERR=$T/ngrokd$NG_N.err
	bg env NGROK_API_KEY="$KEY" "${NSX[@]}" "$@" "$NGROKD" --config "$NG_CONFIG" \
		--foreground >"$T/ngrokd$NG_N.out" 2>"$NGERR" </dev/null
	NG_PID=$BG_PID
}

# ngrokd_stop [SECS [SIGNAL]]: sends SIGNAL (TERM), waits up to SECS (30)
# for the exit; sets NG_RC (the exit status, "timeout" if it did not exit)
# and NG_MS (the time taken).
ngrokd_stop() {
	local s i
	s=$(date +%s%N)
	kill "-${2:-TERM}" "$NG_PID" 2>/dev/null
	NG_RC=timeout
	for ((i = 0; i < ${1:-30} * 10; i++)); do
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

ngrokd_alive() { [ "$(cat "/proc/$NG_PID/comm" 2>/dev/null)" = ngrokd ]; }
ngrokd_fds() { ls "/proc/$NG_PID/fd" 2>/dev/null | wc -l; }
ngrokd_rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$NG_PID/status" 2>/dev/null; }

# ngrokd_clean [REGEX]: no sanitizer report (nor a line matching REGEX) on
# the stderr of any ngrokd the test ran.
ngrokd_clean() {
	! cat "$T"/ngrokd*.err | grep -qE "AddressSanitizer|LeakSanitizer|runtime error${1:+|$1}"
}

# ngrokd_kept_key: the API key appears in no output of any ngrokd.
ngrokd_kept_key() {
	! cat "$T"/ngrokd*.err "$T"/ngrokd*.out | grep -qF "$KEY"
}

# --- in the namespace -------------------------------------------------------------

# nsx CMD...: CMD in the namespace, seeing $T/hosts as /etc/hosts.
nsx() { "${NSX[@]}" "$@"; }

# as_app CMD...: CMD in the namespace with ngrokd's hosts file as
# /etc/hosts, mounted afresh (ngrokd replaces the file by rename, so an
# older bind mount would show an older version).
as_app() {
	ip netns exec "$NS" unshare -m --propagation private \
		sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$NG_HOSTS" "$@"
}

# get URL [CURL-ARG...]: the body (or curl's error) of a request from the
# namespace; app_get: the same with ngrokd's hosts file, as an application
# would look the name up.
get() { nsx curl -sS -m 10 "$@" 2>&1; }
app_get() { as_app curl -sS -m 10 "$@" 2>&1; }

# tcp_probe ADDR PORT: "connected", or the error's name
# (ConnectionRefusedError), of a TCP connection from the namespace.
tcp_probe() {
	nsx python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).close(); print("connected")
except OSError as e:
    print(type(e).__name__)' "$1" "$2" 2>&1
}

# --- what ngrokd shows ----------------------------------------------------------

ctl() { nsx "$NGROKCTL" --socket "$SOCK" "$@"; }

# json EXPR: EXPR of the JSON document on stdin, j (its "data" member when
# it has one: ngrokctl --json wraps its answer in one).
json() { python3 -c "import json,sys; j=json.load(sys.stdin); j=j.get('data', j); print($1)" 2>/dev/null; }

status_field() { ctl --json status 2>/dev/null | json "j['$1']"; }	# FIELD
# list_field FIELD HOST: FIELD of HOST's first row in ngrokctl list.
list_field() {
	ctl --json list 2>/dev/null |
		json "[str(e.get('$1', '')) for e in j['endpoints'] if e['hostname'] == '$2'][0]"
}
list_addr() { list_field address "$1"; }	# HOST

# block: the managed block of ngrokd's hosts file; block_map: its names,
# "name address" per line, sorted; has_names NAME...: every NAME is in it;
# hosts_addr NAME: its address there.
block() { sed -n '/^# BEGIN ngrokd/,/^# END ngrokd/p' "$NG_HOSTS"; }
block_map() { block | awk '/^[0-9]/ { for (i = 2; i <= NF; i++) print $i, $1 }' | sort; }
has_names() {
	local m n
	m=$(block_map)
	for n in "$@"; do grep -q "^$n " <<<"$m" || return 1; done
}
hosts_addr() { block_map | awk -v n="$1" '$1 == n { print $2 }'; }

# --- time -------------------------------------------------------------------------

# within SECS CMD...: like wait_for, but SECS of wall time however long one
# try takes (a metrics scrape or a python start-up under load is not 0.1 s).
within() {
	local end=$(( $(date +%s%N) + $1 * 1000000000 ))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# stop_pid PID SECS [SIGNAL]: sends SIGNAL (TERM), SIGKILL after SECS, reaps.
stop_pid() {
	local i
	kill "-${3:-TERM}" "$1" 2>/dev/null
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
