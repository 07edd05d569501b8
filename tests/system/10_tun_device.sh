#!/usr/bin/env bash
# 10_tun_device.sh: tun_open on a real TUN device in a private network
# namespace: address, MTU, link state and route as the kernel reports them,
# a packet sent to the subnet reaching the pcap tap, clean teardown, and
# clear errors for a bad name and a busy device.  Prints TAP lines.
set -u

OUT=${OUT:-build/release}
TUN_UP=$OUT/tests/fake/tun_up
NS=ngrokdtest-$$-tun
TMP=$(mktemp -d /tmp/ngrokdtest-tun.XXXXXX)
CAP=$TMP/cap.pcap
PID=
n=0

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' TERM INT HUP

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; echo "# $2"; }
# check DESCRIPTION REASON-ON-FAILURE COMMAND...
check() {
	local desc=$1 why=$2
	shift 2
	if "$@"; then ok "$desc"; else not_ok "$desc" "$why"; fi
}
skip_all() { echo "ok 1 - tun device tests # SKIP $1"; exit 0; }
nsx() { ip netns exec "$NS" "$@"; }

[ "$(id -u)" = 0 ] || skip_all "needs root"
[ -c /dev/net/tun ] || skip_all "no /dev/net/tun"
[ -x "$TUN_UP" ] || { not_ok "tun_up is built" "missing $TUN_UP"; exit 0; }
ip netns add "$NS" || { not_ok "create namespace $NS" "ip netns add failed"; exit 0; }

# json QUERY: evaluates a Python expression over the JSON on stdin as j.
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)" 2>/dev/null; }

# Not through nsx: $! must be tun_up itself (ip netns exec execs it).
ip netns exec "$NS" "$TUN_UP" ngrokd0 10.107.0.0/16 9000 --pcap "$CAP" \
	>"$TMP/out" 2>"$TMP/err" </dev/null &
PID=$!
for _ in $(seq 50); do
	grep -q '^ready' "$TMP/out" 2>/dev/null && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
check "tun_up reports the device ready as ngrokd0" \
	"stdout: $(head -c 200 "$TMP/out"); stderr: $(head -c 300 "$TMP/err")" \
	grep -qx 'ready ngrokd0' "$TMP/out"

link=$(nsx ip -j link show dev ngrokd0 2>/dev/null)
check "device ngrokd0 exists" "ip link show ngrokd0 found nothing" \
	test "$(echo "$link" | json "j[0]['ifname']")" = ngrokd0
flags=$(echo "$link" | json "' '.join(j[0]['flags'])")
check "ngrokd0 is UP" "flags: $flags" \
	grep -qw UP <<<"$flags"
mtu=$(echo "$link" | json "j[0]['mtu']")
check "ngrokd0 has MTU 9000" "mtu: $mtu" test "$mtu" = 9000
qlen=$(echo "$link" | json "j[0]['txqlen']")
check "ngrokd0 queues 2000 packets (the default 500 overflows in bursts)" \
	"txqlen: $qlen" test "$qlen" = 2000

addrs=$(nsx ip -j -4 addr show dev ngrokd0 2>/dev/null |
	json "' '.join('%s/%s' % (a['local'], a['prefixlen']) for a in j[0]['addr_info'])")
check "ngrokd0 has exactly 10.107.0.1/16" "addresses: $addrs" \
	test "$addrs" = 10.107.0.1/16

route=$(nsx ip -j -4 route show 10.107.0.0/16 2>/dev/null |
	json "' '.join('%s dev %s' % (r['dst'], r['dev']) for r in j)")
check "route 10.107.0.0/16 dev ngrokd0" "routes: $route" \
	test "$route" = "10.107.0.0/16 dev ngrokd0"

# A second open of the same name fails and says why.
nsx "$TUN_UP" ngrokd0 10.107.0.0/16 9000 >/dev/null 2>"$TMP/err2" </dev/null
rc=$?
check "a second tun_open of ngrokd0 fails with a clear message" \
	"rc $rc; stderr: $(head -c 300 "$TMP/err2")" \
	eval '[ $rc = 1 ] && grep -q "tun_open: TUNSETIFF ngrokd0: Device or resource busy" "$TMP/err2"'

# One echo request into the subnet: nothing answers (tun_up only reads),
# but the packet must cross the device into the pcap.
send_echo() {
	if command -v ping >/dev/null; then
		nsx ping -c1 -W1 10.107.0.5 >/dev/null 2>&1
	else
		nsx python3 - <<'PY'
import socket, struct
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
body = b'ngrokd-tun-test!'
hdr = struct.pack('!BBHHH', 8, 0, 0, 0x4e47, 1)
pkt = struct.pack('!BBHHH', 8, 0, csum(hdr + body), 0x4e47, 1) + body
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(pkt, ('10.107.0.5', 0))
PY
	fi
}
send_echo
seen=
for _ in $(seq 30); do
	seen=$(tshark -r "$CAP" -Y 'icmp.type == 8 && ip.dst == 10.107.0.5' \
		-T fields -e ip.src -e ip.dst 2>/dev/null)
	[ -n "$seen" ] && break
	sleep 0.1
done
check "an ICMP echo request to 10.107.0.5 appears in the pcap" \
	"tshark found: '$seen' (pcap $(stat -c %s "$CAP" 2>/dev/null) bytes)" \
	test "$seen" = "$(printf '10.107.0.1\t10.107.0.5')"
mode=$(stat -c %a "$CAP" 2>/dev/null)
check "the pcap file is mode 0600" "mode: $mode" test "$mode" = 600

kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
check "tun_up exits 0 after SIGTERM" "exit status $rc; stderr: $(tail -c 300 "$TMP/err")" \
	test "$rc" = 0
check "tun_up counted the packet it read" "stderr: $(tail -c 300 "$TMP/err")" \
	grep -Eq 'tun_up: rx [1-9][0-9]* packets' "$TMP/err"
check "ngrokd0 is gone after close" "ip link still shows it" \
	eval '! nsx ip link show dev ngrokd0 >/dev/null 2>&1'
route=$(nsx ip -4 route show 10.107.0.0/16 2>/dev/null)
check "the 10.107.0.0/16 route is gone after close" "routes: $route" \
	test -z "$route"
check "the pcap is still readable after close" "tshark failed" \
	eval 'tshark -r "$CAP" >/dev/null 2>&1'

# A name longer than IFNAMSIZ - 1 is refused before touching the kernel.
long=ngrokd-name-longer-than-ifnamsiz0
nsx "$TUN_UP" "$long" 10.107.0.0/16 9000 >"$TMP/out3" 2>"$TMP/err3" </dev/null
rc=$?
check "an over-long interface name fails with a clear message" \
	"rc $rc; stderr: $(head -c 300 "$TMP/err3")" \
	eval '[ $rc = 1 ] && grep -q "tun_open: interface name \"$long\" is too long" "$TMP/err3"'
check "no device was created for the over-long name" \
	"ip link: $(nsx ip -br link 2>&1 | tr '\n' ' ')" \
	test "$(nsx ip -br link | grep -cv '^lo ')" = 0

exit 0
