#!/bin/bash
# 70_loopback.sh: the loopback fallback and network listen mode of the real
# ngrokd, run as an unprivileged user (nobody, no capabilities) inside a
# private network namespace, against the fake API (tests/fake/api.py), the
# fake ingress (tests/fake/ingress) and http.server backends.
#
#   - net.mode tun without a usable device: exits non-zero, says why;
#   - net.mode auto: falls back to 127.0.0.x (hosts file in a temp dir),
#     curl by host name through 127.0.0.x reaches the backend;
#   - an endpoint on a port below 1024 and one whose port another program
#     holds are reported per endpoint in `ngrokctl list` and the log, and
#     the others keep working;
#   - net.listen_interface 0.0.0.0: from a second namespace over a veth
#     pair, listen address:start_port+n reaches the endpoint, an override
#     pins a port, and the ports survive a restart (with a new endpoint
#     that sorts first).
# Namespaces, the veth pair and its 10.77.0.0/24 addresses are created here
# and removed at exit; the machine's /etc/hosts is never touched.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/certs.sh

skip_all() { echo "ok 1 - # SKIP $1"; echo "1..1"; exit 0; }
grep -q lofront daemon/daemon.c || skip_all "lofront not wired yet"
[ "$(id -u)" = 0 ] || skip_all "needs root (namespaces, then runs ngrokd as nobody)"

NGROKD=$OUT/ngrokd
NGROKCTL=$OUT/ngrokctl
INGRESS=$OUT/tests/fake/ingress
for b in "$NGROKD" "$NGROKCTL" "$INGRESS"; do
	[ -x "$b" ] || { notok "$b is built" "missing (make test-build)"; tap_done; exit 0; }
done
for c in curl python3 openssl unshare setpriv; do
	command -v $c >/dev/null || skip_all "$c missing"
done

NS=ngrokdtest-$$-lo		# ngrokd, ingress, API, backends
NSC=ngrokdtest-$$-lc		# a client on "the network"
T=$(mktemp -d /tmp/ngrokdtest-70.XXXXXX)
at_exit "rm -rf '$T'"
chmod 755 "$T"
KEY=test-key-$$-$RANDOM-secret
NOBODY=65534

certs_make "$T/c" ingress.test 2>"$T/certs.err" ||
	{ notok "test certificates made" "$(cat "$T/certs.err")"; tap_done; exit 0; }
C=$T/c
chmod 755 "$C"
chmod 644 "$C/ca.pem"
# What the processes see as /etc/hosts: ingress.test only.
printf '127.0.0.1\tlocalhost\n127.0.0.1\tingress.test\n' > "$T/hosts"
chmod 644 "$T/hosts"
# Everything ngrokd writes lives in a directory nobody owns.
N=$T/nb
mkdir -p "$N"
printf '127.0.0.1\tlocalhost\n# kept byte for byte\n' > "$N/etc-hosts"
cp "$N/etc-hosts" "$T/etc-hosts.orig"
chown -R $NOBODY:$NOBODY "$N"

netns_new "$NS" && netns_new "$NSC" ||
	{ notok "create namespaces" "ip netns add failed"; tap_done; exit 0; }
if ! { ip link add lo70s-$$ netns "$NS" type veth peer name lo70c-$$ netns "$NSC" &&
	ip -n "$NS" addr add 10.77.0.1/24 dev lo70s-$$ &&
	ip -n "$NSC" addr add 10.77.0.2/24 dev lo70c-$$ &&
	ip -n "$NS" link set lo70s-$$ up && ip -n "$NSC" link set lo70c-$$ up; }; then
	notok "veth pair between the namespaces" "ip link add failed"; tap_done; exit 0
fi
NSX=(ip netns exec "$NS" unshare -m --propagation private
	sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts")
nsx() { "${NSX[@]}" "$@"; }
as_app() {
	ip netns exec "$NS" unshare -m --propagation private \
		sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$N/etc-hosts" "$@"
}
AS_NOBODY=(setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --no-new-privs)

# --- backends, ingress, API, a squatter ---------------------------------------
mkdir -p "$T/www-a" "$T/www-b"
echo "backend A $$" > "$T/www-a/index.html"
echo "backend B $$" > "$T/www-b/index.html"
bg "${NSX[@]}" python3 -m http.server --bind 127.0.0.1 --directory "$T/www-a" 8080 \
	>"$T/http-a.log" 2>&1 </dev/null
bg "${NSX[@]}" python3 -m http.server --bind 127.0.0.1 --directory "$T/www-b" 8081 \
	>"$T/http-b.log" 2>&1 </dev/null
# Another program holding port 5433 on every address: epsilon's listener
# (127.0.0.x:5433) cannot bind.
bg "${NSX[@]}" python3 -c '
import socket, time
s = socket.socket(); s.bind(("0.0.0.0", 5433)); s.listen(1); time.sleep(600)' \
	>"$T/squat.log" 2>&1 </dev/null

ROUTES=(--route alpha.test:80=127.0.0.1:8080 --route delta.test:5432=127.0.0.1:8081
	--route epsilon.test:5433=127.0.0.1:8080 --route zeta.test:80=127.0.0.1:8081
	--route aaa.test:80=127.0.0.1:8080)
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
		d) out+="$sep$(ep ep_d tcp://delta.test:5432 tcp delta.test)";;
		e) out+="$sep$(ep ep_e tcp://epsilon.test:5433 tcp epsilon.test)";;
		z) out+="$sep$(ep ep_z http://zeta.test http zeta.test)";;
		0) out+="$sep$(ep ep_0 http://aaa.test http aaa.test)";;
		esac
		sep=,
	done
	echo "$out]" > "$T/eps.json.tmp" && mv "$T/eps.json.tmp" "$T/eps.json"
}
write_eps a d e z
bg "${NSX[@]}" python3 tests/fake/api.py --port 8000 --key "$KEY" --endpoints "$T/eps.json" \
	--ca-cert "$C/client-ca.pem" --ca-key "$C/client-ca.key" \
	--ingress ingress.test:4443 >"$T/api.out" 2>"$T/api.err" </dev/null

wait_for 10 grep -q listening "$T/api.out" &&
	wait_for 5 grep -q '^listening' "$T/ingress.out" &&
	wait_for 10 nsx curl -sf -o /dev/null http://127.0.0.1:8080/ &&
	wait_for 10 nsx curl -sf -o /dev/null http://127.0.0.1:8081/ ||
	{ notok "API, ingress and backends start" "$(cat "$T"/api.err "$T"/ingress.err "$T"/http-*.log | tail -5)"; tap_done; exit 0; }
json() { python3 -c "import json,sys; j=json.load(sys.stdin); j=j.get('data', j); print($1)" 2>/dev/null; }

# --- ngrokd as nobody ----------------------------------------------------------
SOCK=$N/run/ngrokd.sock
START_PORT=19080
ZETA_PORT=19555
config() { # MODE
	cat > "$T/ngrokd-$1.yml" <<EOF
api:
  url: http://127.0.0.1:8000
ingressEndpoint: ingress.test:4443
server:
  log_level: info
  socket_path: $SOCK
  state_dir: $N/state
  hosts_file: $N/etc-hosts
bound_endpoints:
  poll_interval: 1s
net:
  mode: $1
  listen_interface: 0.0.0.0
  start_port: $START_PORT
  overrides:
    zeta.test: $ZETA_PORT
tls:
  ca_file: $C/ca.pem
EOF
	chmod 644 "$T/ngrokd-$1.yml"
}
config tun
config auto

# 1. net.mode tun and no way to open a device: a clear error, exit non-zero.
out=$(timeout 20 env NGROK_API_KEY="$KEY" "${NSX[@]}" "${AS_NOBODY[@]}" "$NGROKD" \
	--config "$T/ngrokd-tun.yml" --foreground 2>&1 </dev/null); rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "net.mode is tun" <<<"$out" &&
   grep -qi "tun" <<<"$(grep "cannot open" <<<"$out")"; then
	ok "net.mode tun as nobody: exits $rc with \"$(grep -m1 'net.mode is tun' <<<"$out" | sed 's/^.*data path: //')\""
else
	notok "net.mode tun as nobody: exits non-zero with a clear message" "rc=$rc; $(tail -5 <<<"$out")"
fi

NG_PID=
NG_N=0
start_ngrokd() {
	NG_N=$((NG_N + 1))
	NGERR=$T/ngrokd$NG_N.err
	bg env NGROK_API_KEY="$KEY" "${NSX[@]}" "${AS_NOBODY[@]}" "$NGROKD" \
		--config "$T/ngrokd-auto.yml" --foreground >"$T/ngrokd$NG_N.out" 2>"$NGERR" </dev/null
	NG_PID=$BG_PID
}
stop_ngrokd() {
	kill -TERM "$NG_PID" 2>/dev/null
	NG_RC=timeout
	for _ in $(seq 100); do
		kill -0 "$NG_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! kill -0 "$NG_PID" 2>/dev/null; then
		wait "$NG_PID" 2>/dev/null
		NG_RC=$?
	fi
	NG_PID=
}
ctl() { nsx "$NGROKCTL" --socket "$SOCK" "$@"; }
block() { sed -n '/^# BEGIN ngrokd/,/^# END ngrokd/p' "$N/etc-hosts"; }
block_map() { block | awk '/^[0-9]/ { for (i = 2; i <= NF; i++) print $i, $1 }' | sort; }
has_names() {
	local m n
	m=$(block_map)
	for n in "$@"; do grep -q "^$n " <<<"$m" || return 1; done
}
addr_of() { block_map | awk -v n="$1" '$1 == n { print $2 }'; }
# lst FIELD HOST: a field of HOST's entry in `ngrokctl --json list`
lst() { ctl --json list 2>/dev/null | json "[e.get('$1', '') for e in j['endpoints'] if e['hostname'] == '$2'][0]"; }
netport() { lst network_listen "$1" | sed 's/.*://'; }
from_net() { ip netns exec "$NSC" curl -sS -m 10 "http://10.77.0.1:$1/" 2>&1; }
get() { as_app curl -sS -m 10 "$@" 2>&1; }

# 2. net.mode auto as nobody: falls back to loopback addresses.
start_ngrokd
if wait_for 20 has_names alpha.test delta.test epsilon.test zeta.test; then
	ok "as nobody, mode auto: all 4 endpoints in the hosts file"
else
	notok "as nobody, mode auto: all 4 endpoints in the hosts file" \
		"block: $(block | tr '\n' '|'); log: $(tail -5 "$NGERR")"
fi
check "ngrokd runs as uid nobody" \
	test "$(awk '/^Uid:/ {print $2}' /proc/$NG_PID/status 2>/dev/null)" = $NOBODY
check "ngrokd has no capabilities (CapEff 0)" \
	test "$(awk '/^CapEff:/ {print $2}' /proc/$NG_PID/status 2>/dev/null)" = 0000000000000000
check "the switch is logged once, with the reason" eval \
	'[ "$(grep -c "using loopback addresses" "$NGERR")" = 1 ] && grep "using loopback addresses" "$NGERR" | grep -q "cannot open the TUN device"'
wait_for 10 ctl health
st=$(ctl --json status 2>&1)
if [ "$(json 'j["mode"]' <<<"$st")" = loopback ] &&
   json 'j["mode_reason"]' <<<"$st" | grep -q "TUN device"; then
	ok "ngrokctl status: mode loopback, reason: $(json 'j["mode_reason"]' <<<"$st")"
else
	notok "ngrokctl status: mode loopback, with the reason" "$st"
fi
check "every address in the hosts block is in 127/8, none is 127.0.0.1" eval \
	'[ "$(block_map | awk "{print \$2}" | grep -c "^127\.")" = 4 ] && ! block_map | grep -q " 127\.0\.0\.1$"'
check "no TUN device was created" eval '! ip -n "$NS" link show ngrokd0 >/dev/null 2>&1'

# 3. Traffic by name through 127.0.0.x; per-endpoint listener problems.
check "curl http://delta.test:5432/ (via $(addr_of delta.test)) reaches backend B" \
	test "$(get http://delta.test:5432/)" = "backend B $$"
check "the ingress got delta.test:5432" grep -q "host=delta.test port=5432 result=ok" "$T/ingress.log"
ae=$(lst listen_error alpha.test)
check "list: alpha.test (port 80) says the port is privileged: $ae" eval \
	'grep -q "below 1024" <<<"$ae" && grep -q "root" <<<"$ae"'
ee=$(lst listen_error epsilon.test)
check "list: epsilon.test (port 5433 held by another program): $ee" \
	grep -q "already in use" <<<"$ee"
check "list: delta.test listens on $(lst listen delta.test), no error" eval \
	'[ "$(lst listen delta.test)" = "$(addr_of delta.test):5432" ] && [ -z "$(lst listen_error delta.test)" ]'
check "the log names both listener problems, once each" eval \
	'[ "$(grep -c "alpha.test:80: cannot listen" "$NGERR")" = 1 ] && [ "$(grep -c "epsilon.test:5433: cannot listen" "$NGERR")" = 1 ]'

# 4. Network mode: 0.0.0.0:start_port+n from the other namespace.
AP=$(netport alpha.test); DP=$(netport delta.test); EP=$(netport epsilon.test); ZP=$(netport zeta.test)
check "network ports: alpha $AP, delta $DP, epsilon $EP from $START_PORT in name order; zeta pinned $ZP" \
	test "$AP $DP $EP $ZP" = "$START_PORT $((START_PORT + 1)) $((START_PORT + 2)) $ZETA_PORT"
check "from the second namespace, 10.77.0.1:$AP reaches alpha's backend A (its port 80 is privileged, this one is not)" \
	test "$(from_net "$AP")" = "backend A $$"
check "from the second namespace, 10.77.0.1:$ZP (override) reaches zeta's backend B" \
	test "$(from_net "$ZP")" = "backend B $$"
check "from the second namespace, 10.77.0.1:$EP reaches epsilon although 127.0.0.x:5433 is taken" \
	test "$(from_net "$EP")" = "backend A $$"
check "the ports are persisted in state_dir/listen_ports.json" \
	grep -q "\"alpha.test:80\":[[:space:]]*$AP" "$N/state/listen_ports.json"

# 5. Restart with a new endpoint that sorts first: the ports stay.
stop_ngrokd
check "SIGTERM: exits 0 and removes the hosts block" eval \
	'[ "$NG_RC" = 0 ] && cmp -s "$N/etc-hosts" "$T/etc-hosts.orig"'
write_eps 0 a d e z
start_ngrokd
wait_for 20 has_names aaa.test alpha.test delta.test epsilon.test zeta.test
wait_for 10 ctl health
wait_for 10 eval '[ -n "$(netport aaa.test)" ]'
A2=$(netport alpha.test); D2=$(netport delta.test); Z2=$(netport zeta.test); N2=$(netport aaa.test)
check "after a restart alpha/delta/zeta keep $AP/$DP/$ZP (now $A2/$D2/$Z2); new aaa.test gets $N2" \
	test "$A2 $D2 $Z2 $N2" = "$AP $DP $ZP $((START_PORT + 3))"
check "after the restart, 10.77.0.1:$A2 reaches alpha again" \
	test "$(from_net "$A2")" = "backend A $$"
check "after the restart, 10.77.0.1:$N2 reaches aaa.test" \
	test "$(from_net "$N2")" = "backend A $$"

stop_ngrokd
check "last SIGTERM: exit 0, hosts file as it was" eval \
	'[ "$NG_RC" = 0 ] && cmp -s "$N/etc-hosts" "$T/etc-hosts.orig"'
check "the API key never appears in ngrokd's output" \
	eval '! cat "$T"/ngrokd*.err "$T"/ngrokd*.out | grep -qF "$KEY"'
check "no sanitizer report from ngrokd" \
	eval '! cat "$T"/ngrokd*.err | grep -qE "AddressSanitizer|LeakSanitizer|runtime error"'
tap_done
exit 0
