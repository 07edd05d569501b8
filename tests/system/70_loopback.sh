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
. tests/lib/cloud.sh

cloud_init 70 lo ""		# $NS: ngrokd, ingress, API, backends
grep -q lofront daemon/daemon.c || skip_all "lofront not wired yet"
[ "$(id -u)" = 0 ] || skip_all "needs root (namespaces, then runs ngrokd as nobody)"
cloud_require --no-tun curl python3 openssl unshare setpriv
NSC=ngrokdtest-$$-lc		# a client on "the network"
chmod 755 "$T"
NOBODY=65534

cloud_certs || cloud_setup_failed "test certificates made"
chmod 755 "$C"
chmod 644 "$C/ca.pem" "$T/hosts"
# Everything ngrokd writes lives in a directory nobody owns.
N=$T/nb
mkdir -p "$N"
SOCK=$N/run/ngrokd.sock NG_STATE=$N/state NG_HOSTS=$N/etc-hosts
printf '127.0.0.1\tlocalhost\n# kept byte for byte\n' > "$NG_HOSTS"
cp "$NG_HOSTS" "$T/etc-hosts.orig"
chown -R $NOBODY:$NOBODY "$N"

cloud_netns && netns_new "$NSC" || cloud_setup_failed "create namespaces" "ip netns add failed"
if ! { ip link add lo70s-$$ netns "$NS" type veth peer name lo70c-$$ netns "$NSC" &&
	ip -n "$NS" addr add 10.77.0.1/24 dev lo70s-$$ &&
	ip -n "$NSC" addr add 10.77.0.2/24 dev lo70c-$$ &&
	ip -n "$NS" link set lo70s-$$ up && ip -n "$NSC" link set lo70c-$$ up; }; then
	cloud_setup_failed "veth pair between the namespaces" "ip link add failed"
fi
AS_NOBODY=(setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --no-new-privs)

# --- backends, ingress, API, a squatter ---------------------------------------
cloud_backend www-a 8080 "backend A $$"
cloud_backend www-b 8081 "backend B $$"
# Another program holding port 5433 on every address: epsilon's listener
# (127.0.0.x:5433) cannot bind.
bg "${NSX[@]}" python3 -c '
import socket, time
s = socket.socket(); s.bind(("0.0.0.0", 5433)); s.listen(1); time.sleep(600)' \
	>"$T/squat.log" 2>&1 </dev/null

ROUTES=(--route alpha.test:80=127.0.0.1:8080 --route delta.test:5432=127.0.0.1:8081
	--route epsilon.test:5433=127.0.0.1:8080 --route zeta.test:80=127.0.0.1:8081
	--route aaa.test:80=127.0.0.1:8080)
EPS=([a]=http://alpha.test [d]=tcp://delta.test:5432 [e]=tcp://epsilon.test:5433
	[z]=http://zeta.test [0]=http://aaa.test)
cloud_eps a d e z
ingress_start && api_start && cloud_backends_up ||
	cloud_setup_failed "API, ingress and backends start"

# --- ngrokd as nobody ----------------------------------------------------------
START_PORT=19080
ZETA_PORT=19555
NET_MORE="  listen_interface: 0.0.0.0
  start_port: $START_PORT
  overrides:
    zeta.test: $ZETA_PORT"
for mode in tun auto; do
	NET_MODE=$mode cloud_config "$T/ngrokd-$mode.yml"
	chmod 644 "$T/ngrokd-$mode.yml"
done
NG_CONFIG=$T/ngrokd-auto.yml

# 1. net.mode tun and no way to open a device: a clear error, exit non-zero.
out=$(timeout 20 env NGROK_API_KEY="$KEY" "${NSX[@]}" "${AS_NOBODY[@]}" "$NGROKD" \
	--config "$T/ngrokd-tun.yml" --foreground 2>&1 </dev/null); rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "net.mode is tun" <<<"$out" &&
   grep -qi "tun" <<<"$(grep "cannot open" <<<"$out")"; then
	ok "net.mode tun as nobody: exits $rc with \"$(grep -m1 'net.mode is tun' <<<"$out" | sed 's/^.*data path: //')\""
else
	notok "net.mode tun as nobody: exits non-zero with a clear message" "rc=$rc; $(tail -5 <<<"$out")"
fi

netport() { list_field network_listen "$1" | sed 's/.*://'; }
from_net() { ip netns exec "$NSC" curl -sS -m 10 "http://10.77.0.1:$1/" 2>&1; }

# 2. net.mode auto as nobody: falls back to loopback addresses.
ngrokd_start "${AS_NOBODY[@]}"
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
check "curl http://delta.test:5432/ (via $(hosts_addr delta.test)) reaches backend B" \
	test "$(app_get http://delta.test:5432/)" = "backend B $$"
check "the ingress got delta.test:5432" grep -q "host=delta.test port=5432 result=ok" "$T/ingress.log"
ae=$(list_field listen_error alpha.test)
check "list: alpha.test (port 80) says the port is privileged: $ae" eval \
	'grep -q "below 1024" <<<"$ae" && grep -q "root" <<<"$ae"'
ee=$(list_field listen_error epsilon.test)
check "list: epsilon.test (port 5433 held by another program): $ee" \
	grep -q "already in use" <<<"$ee"
check "list: delta.test listens on $(list_field listen delta.test), no error" eval \
	'[ "$(list_field listen delta.test)" = "$(hosts_addr delta.test):5432" ] && [ -z "$(list_field listen_error delta.test)" ]'
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
ngrokd_stop 10
check "SIGTERM: exits 0 and removes the hosts block" eval \
	'[ "$NG_RC" = 0 ] && cmp -s "$NG_HOSTS" "$T/etc-hosts.orig"'
cloud_eps 0 a d e z
ngrokd_start "${AS_NOBODY[@]}"
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

ngrokd_stop 10
check "last SIGTERM: exit 0, hosts file as it was" eval \
	'[ "$NG_RC" = 0 ] && cmp -s "$NG_HOSTS" "$T/etc-hosts.orig"'
check "the API key never appears in ngrokd's output" ngrokd_kept_key
check "no sanitizer report from ngrokd" ngrokd_clean
tap_done
exit 0
