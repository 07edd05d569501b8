#!/bin/bash
# tests/demo/demo.sh: ngrokd end to end on one machine, without an ngrok
# account (`make demo` runs it; needs root).
#
# Everything happens inside a private network namespace created here and
# under one temporary directory:
#   - the fake ngrok cloud from tests/: the API (tests/fake/api.py) listing a
#     few bound endpoints, the mTLS binding ingress (tests/fake/ingress), and
#     a small HTTP service (python3 -m http.server) the ingress routes to;
#   - the real ngrokd with a generated configuration (net.mode tun, a TUN
#     device and route that exist only in the namespace, its own hosts file,
#     state dir and control socket in the temporary directory);
#   - ngrokctl set-api-key, then status and list once discovery is done, the
#     hosts-file block, and curl http://demo-api.ngrok.app/ answered by the
#     service through TUN -> lwIP -> mTLS -> ingress.
# curl finds the name in ngrokd's hosts file, bind-mounted over /etc/hosts
# in a throw-away mount namespace: the machine's /etc/hosts, routes and
# /var/run/ngrokd.sock are never touched.  On exit, error or Ctrl-C every
# process started here is stopped by its PID, the namespace (with its
# device) is deleted and the temporary directory removed.
#
# Usage: tests/demo/demo.sh [--hold]
#   --hold   keep everything running after the curl, until Ctrl-C
# Environment: OUT (build dir, default build/release), NGROKD, NGROKCTL,
# INGRESS (override the binaries).
# Exit status: 0 when the service's answer arrived through ngrokd, 1 when a
# step failed (the step and the last log lines are shown), 130 on Ctrl-C.
set -u
cd "$(dirname "$0")/../.." || exit 1

OUT=${OUT:-build/release}
NGROKD=${NGROKD:-$OUT/ngrokd}
NGROKCTL=${NGROKCTL:-$OUT/ngrokctl}
INGRESS=${INGRESS:-$OUT/tests/fake/ingress}
HOLD=0
case ${1:-} in
--hold) HOLD=1 ;;
"") ;;
-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
*) echo "demo: unknown argument \"$1\" (try --help)" >&2; exit 2 ;;
esac

DEMO_HOST=demo-api.ngrok.app
HELLO="Hello from the demo service behind $DEMO_HOST"
API_PORT=8000
INGRESS_ADDR=127.0.0.1:4443
INGRESS_NAME=ingress.demo.test
SERVICE_PORT=8080
NS=ngrokd-demo-$$
T=
NG_PID=
PIDS=""
NS_MADE=0

if [ -t 1 ]; then B=$'\e[1m' N=$'\e[0m'; else B='' N=''; fi
say() { printf '%s\n' "--> $*"; }
heading() { printf '\n%s== %s ==%s\n' "$B" "$*" "$N"; }
die() { # die "what failed" [LOGFILE...]: explains, shows the logs, exits 1
	local f
	printf '\ndemo: FAILED: %s\n' "$1" >&2
	shift
	for f in "$@"; do
		[ -s "$f" ] || continue
		printf -- '---- last lines of %s ----\n' "${f##*/}" >&2
		tail -n 15 "$f" >&2
	done
	exit 1
}

# --- clean-up: runs on every exit, also after errors and Ctrl-C -------------
stop_pid() { # PID SECONDS: SIGTERM, then SIGKILL after SECONDS
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
cleanup() {
	local p
	trap '' INT TERM	# a second Ctrl-C must not cut the clean-up short
	# ngrokd first, with time to remove its device and hosts block.
	[ -n "$NG_PID" ] && stop_pid "$NG_PID" 10
	for p in $PIDS; do
		stop_pid "$p" 3
	done
	# Anything else still running in the namespace was started by us too
	# (a child of the above); the namespace would outlive its name otherwise.
	if [ "$NS_MADE" = 1 ]; then
		for p in $(ip netns pids "$NS" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
		ip netns del "$NS" 2>/dev/null
	fi
	[ -n "$T" ] && rm -rf "$T"
	[ -n "$T" ] && echo "demo: cleaned up (namespace $NS, $T, every process)"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT
trap 'exit 143' TERM

# --- what the demo needs ------------------------------------------------------
[ "$(id -u)" = 0 ] || die "the demo needs root (a network namespace and a TUN device): run \"sudo make demo\""
[ -c /dev/net/tun ] || die "/dev/net/tun is missing: this kernel or container offers no TUN devices"
for b in "$NGROKD" "$NGROKCTL" "$INGRESS"; do
	[ -x "$b" ] || die "$b is not built (make all test-build)"
done
for c in ip unshare mount curl python3 openssl; do
	command -v "$c" >/dev/null || die "$c is not installed (third_party/deps.sh installs it)"
done
. tests/lib/certs.sh

T=$(mktemp -d /tmp/ngrokd-demo.XXXXXX) || die "cannot create a temporary directory"
chmod 755 "$T"
echo "${B}ngrokd demo$N: $("$NGROKD" --version), in the private network namespace $NS"
echo "and the directory $T; nothing outside them is changed."
echo

# "${CLOUD[@]}" CMD... runs CMD in the namespace seeing $T/cloud-hosts as
# /etc/hosts; "${APP[@]}" CMD... with ngrokd's hosts file instead, mounted
# afresh each time (ngrokd replaces the file by rename, so an older mount
# would show an older version).  Each has its own mount namespace, so the
# bind mount is private and vanishes with the process.  ip netns exec,
# unshare and sh all exec, so a background CMD's $! is CMD's own PID.
NSX=(ip netns exec "$NS" unshare -m --propagation private
	sh -c 'mount --bind "$0" /etc/hosts && exec "$@"')
CLOUD=("${NSX[@]}" "$T/cloud-hosts")
APP=("${NSX[@]}" "$T/hosts")
# bg LOG CMD...: starts CMD in the background, output to LOG; sets BG_PID.
bg() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 </dev/null &
	BG_PID=$!
	PIDS="$BG_PID $PIDS"
}
wait_for() { # SECONDS CMD...: retries CMD every 0.1 s
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		"${@:2}" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# --- the fake ngrok cloud -------------------------------------------------------
say "making throw-away certificates: the ingress's CA and server certificate, and the CA that signs ngrokd's client certificate"
certs_make "$T/certs" "$INGRESS_NAME" 2>"$T/certs.log" || die "certificates" "$T/certs.log"

ip netns add "$NS" || die "ip netns add $NS"
NS_MADE=1
ip -n "$NS" link set lo up || die "bringing up lo in $NS"

# What the cloud's processes (and ngrokd, to find the ingress) see as
# /etc/hosts.  ngrokd's own hosts file, which it edits, is $T/hosts.
printf '127.0.0.1\tlocalhost\n127.0.0.1\t%s\n' "$INGRESS_NAME" > "$T/cloud-hosts"
printf '# the hosts file ngrokd manages in this demo (it stands in for /etc/hosts)\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n' > "$T/hosts"
chmod 644 "$T/cloud-hosts" "$T/hosts"

mkdir -p "$T/www"
printf '%s!\nIt came through ngrokd: TUN -> lwIP -> mTLS -> the binding ingress.\n' "$HELLO" > "$T/www/index.html"
say "starting the service: python3 -m http.server on 127.0.0.1:$SERVICE_PORT (inside the namespace)"
bg "$T/service.log" "${CLOUD[@]}" python3 -m http.server --bind 127.0.0.1 \
	--directory "$T/www" "$SERVICE_PORT"

say "starting the fake binding ingress on $INGRESS_ADDR (mTLS; routes endpoint host names to the service)"
bg "$T/ingress.log" "${CLOUD[@]}" "$INGRESS" --listen "$INGRESS_ADDR" \
	--cert "$T/certs/ingress.pem" --key "$T/certs/ingress.key" \
	--client-ca "$T/certs/client-ca.pem" --log "$T/ingress-conns.log" \
	--route "$DEMO_HOST:80=127.0.0.1:$SERVICE_PORT" \
	--route "demo-web.ngrok.app:443=127.0.0.1:$SERVICE_PORT" \
	--route "demo-db.ngrok.app:5432=127.0.0.1:$SERVICE_PORT"

KEY=demo-key-$$-$RANDOM$RANDOM
cat > "$T/endpoints.json" <<EOF
[
 {"id": "ep_demo_api", "uri": "http://127.0.0.1:$API_PORT/endpoints/ep_demo_api",
  "url": "http://$DEMO_HOST", "proto": "http", "hostname": "$DEMO_HOST", "port": 80},
 {"id": "ep_demo_web", "uri": "http://127.0.0.1:$API_PORT/endpoints/ep_demo_web",
  "url": "https://demo-web.ngrok.app", "proto": "https", "hostname": "demo-web.ngrok.app", "port": 443},
 {"id": "ep_demo_db", "uri": "http://127.0.0.1:$API_PORT/endpoints/ep_demo_db",
  "url": "tcp://demo-db.ngrok.app:5432", "proto": "tcp", "hostname": "demo-db.ngrok.app", "port": 5432}
]
EOF
say "starting the fake ngrok API on 127.0.0.1:$API_PORT (3 bound endpoints; signs the client certificate)"
bg "$T/api.log" "${CLOUD[@]}" python3 tests/fake/api.py --port "$API_PORT" \
	--key "$KEY" --endpoints "$T/endpoints.json" --ca-cert "$T/certs/client-ca.pem" \
	--ca-key "$T/certs/client-ca.key" --ingress "$INGRESS_NAME:${INGRESS_ADDR##*:}"

wait_for 10 grep -q '^listening' "$T/api.log" || die "the fake API did not start" "$T/api.log"
wait_for 10 grep -q '^listening' "$T/ingress.log" || die "the fake ingress did not start" "$T/ingress.log"
wait_for 10 "${CLOUD[@]}" curl -sf --noproxy '*' -o /dev/null "http://127.0.0.1:$SERVICE_PORT/" ||
	die "the service did not start" "$T/service.log"

# --- ngrokd ---------------------------------------------------------------------
SOCK=$T/ngrokd.sock
cat > "$T/ngrokd.yml" <<EOF
# Generated by tests/demo/demo.sh: every path is in $T.
api:
  url: http://127.0.0.1:$API_PORT
ingressEndpoint: $INGRESS_NAME:${INGRESS_ADDR##*:}
server:
  log_level: info
  socket_path: $SOCK
  state_dir: $T/state
  hosts_file: $T/hosts
bound_endpoints:
  poll_interval: 1s
net:
  mode: tun
  interface_name: ngrokd0
  subnet: 10.107.0.0/16
tls:
  ca_file: $T/certs/ca.pem
EOF
say "starting ngrokd --foreground --pcap $T/tun.pcap with $T/ngrokd.yml (net.mode tun, poll_interval 1s, no API key yet)"
bg "$T/ngrokd.log" "${CLOUD[@]}" "$NGROKD" --config "$T/ngrokd.yml" --foreground \
	--pcap "$T/tun.pcap"
NG_PID=$BG_PID
ctl() { "$NGROKCTL" --socket "$SOCK" "$@"; }
wait_for 10 test -S "$SOCK" || die "ngrokd did not open its control socket" "$T/ngrokd.log"

say "giving ngrokd the API key: ngrokctl set-api-key (reads it from stdin)"
printf '%s\n' "$KEY" | ctl set-api-key >"$T/set-key.log" 2>&1 ||
	die "ngrokctl set-api-key" "$T/set-key.log" "$T/ngrokd.log"

say "waiting for discovery: certificate, endpoint list, addresses, hosts file"
start=$(date +%s%N)
has_block() { grep -q "[[:space:]]$DEMO_HOST\$" "$T/hosts"; }
wait_for 30 ctl health && wait_for 10 has_block ||
	die "discovery did not finish in time ($(ctl health 2>&1 | tr '\n' ' '))" \
		"$T/ngrokd.log" "$T/api.log"
echo "    ready after $((($(date +%s%N) - start) / 1000000)) ms"

# --- what a person sees -------------------------------------------------------------
heading "ngrokctl status"
ctl status || die "ngrokctl status" "$T/ngrokd.log"
heading "ngrokctl list"
ctl list || die "ngrokctl list" "$T/ngrokd.log"
heading "the hosts-file block ngrokd maintains ($T/hosts standing in for /etc/hosts)"
sed -n '/^# BEGIN ngrokd/,/^# END ngrokd/p' "$T/hosts"
heading "what the kernel sees: one device and one route (ip -n $NS)"
ip -n "$NS" -brief link show ngrokd0
ip -n "$NS" route show dev ngrokd0
heading "curl http://$DEMO_HOST/"
echo "(in the namespace, with ngrokd's hosts file as /etc/hosts)"
"${APP[@]}" curl -sS --noproxy '*' -m 10 -o "$T/answer" \
	-w 'connected to %{remote_ip}:%{remote_port}, HTTP %{http_code}\n' \
	"http://$DEMO_HOST/" >"$T/curl.info" 2>"$T/curl.log"
rc=$?
[ -s "$T/answer" ] && cat "$T/answer"
[ "$rc" = 0 ] && grep -q "^$HELLO" "$T/answer" ||
	die "curl http://$DEMO_HOST/ did not get the service's answer (curl exit $rc)" \
		"$T/curl.log" "$T/ngrokd.log" "$T/ingress.log"
echo "(curl $(cat "$T/curl.info"))"
if grep -q "host=$DEMO_HOST port=80 result=ok" "$T/ingress-conns.log" 2>/dev/null; then
	echo "(the fake ingress accepted ngrokd's client certificate and the binding request for $DEMO_HOST:80)"
fi

# The packets of that connection as the TUN device carried them, before
# ngrokd put the bytes into TLS (the capture is flushed once a second).
if command -v tshark >/dev/null; then
	heading "the same connection on the TUN device (ngrokd --pcap, read by tshark -r)"
	has_get() { tshark -r "$T/tun.pcap" -Y http.request 2>/dev/null | grep -q GET; }
	if wait_for 5 has_get; then
		tshark -r "$T/tun.pcap" 2>/dev/null | head -n 20
	else
		echo "(the capture does not show it yet)"
	fi
fi

echo
echo "${B}demo: OK$N: the answer came from the service through ngrokd."
if [ "$HOLD" = 1 ]; then
	echo
	echo "Everything stays up until Ctrl-C.  Try, in another shell:"
	echo "  $NGROKCTL --socket $SOCK list"
	echo "  ip netns exec $NS unshare -m sh -c 'mount --bind $T/hosts /etc/hosts && curl http://$DEMO_HOST/'"
	echo "  ip netns exec $NS tshark -i ngrokd0"
	while kill -0 "$NG_PID" 2>/dev/null; do sleep 1; done
	die "ngrokd exited" "$T/ngrokd.log"
fi
exit 0
