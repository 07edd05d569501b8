#!/bin/bash
# make bench: ngrokd's data path measured against baselines taken in the
# same run, printed as ratios.  Everything runs inside network namespaces
# this script creates (and removes), on this machine only.
#
#   kernel veth    plain kernel TCP between two namespaces (the ceiling of
#                  the data path), single stream
#   direct TLS     the same client speaking TLS straight to the fake ingress
#                  (the ceiling of the tunnel)
#   ngrokd         client -> TUN -> lwIP -> wolfSSL -> fake ingress -> backend
#
# BENCH_BYTES (default 1 GB) per transfer; BENCH_CONNS (default 2000) for
# the connection-rate runs; BENCH_ONLY=datapath stops after the data path,
# BENCH_ONLY=tunnel runs the single-stream tunnel only.  Every throughput
# figure is the median of BENCH_RUNS (3) transfers.  The data path runs
# pinned (BENCH_PIN) under each congestion control of BENCH_CC (below).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/certs.sh
B=${OUT:-build/release}
BYTES=${BENCH_BYTES:-1000000000}
CONNS=${BENCH_CONNS:-2000}
T=$(mktemp -d)
at_exit "rm -rf $T"
NS=ngrokdbench-$$-a
NS2=ngrokdbench-$$-b
netns_new $NS
netns_new $NS2
certs_make "$T/pki" ingress.test >/dev/null || exit 1

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
# median CMD...: runs CMD $RUNS times (BENCH_RUNS, default 3) and prints the
# output line whose first field is the median: single runs on a shared
# 2-core machine move by +-30%.
RUNS=${BENCH_RUNS:-3}
median() {
	local i
	for i in $(seq $RUNS); do "$@"; done | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
ratio() { echo "scale=2; $1 / $2" | bc; }
cpu() { awk '{print ($14+$15)/100}' /proc/$1/stat; }

# Placement: on a machine with two cores or more, the sending application
# runs on core 0 and its peer (ngrokd, or the veth receiver) on core 1, the
# same for every row: unpinned, a transfer's figure depends on whether the
# scheduler put both on one core, and single runs moved by 2x.
# BENCH_PIN=0 leaves placement to the scheduler.
APP=() PEER=()
if [ "${BENCH_PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ]; then
	APP=(taskset -c 0) PEER=(taskset -c 1)
fi
# Congestion control of the kernel's sender (the application's socket up,
# the veth baseline's both ways; down, ngrokd's lwIP sends and the
# application's setting plays no part): the machine's default, and cubic
# (Linux's default) when that is another.  BENCH_CC="a b" chooses.
CC_DEFAULT=$(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo cubic)
CCS=${BENCH_CC:-$CC_DEFAULT}
[ -z "${BENCH_CC:-}" ] && [ "$CC_DEFAULT" != cubic ] && CCS="$CC_DEFAULT cubic"

# --- kernel veth baseline -----------------------------------------------------
ip link add vb0 netns $NS type veth peer name vb1 netns $NS2
ip -n $NS addr add 192.168.77.1/24 dev vb0
ip -n $NS2 addr add 192.168.77.2/24 dev vb1
ip -n $NS link set vb0 up
ip -n $NS2 link set vb1 up
for cc in $CCS; do
	BLAST_CC=$cc ip netns exec $NS2 "${PEER[@]}" $B/tests/fake/blast server 192.168.77.2:0 > $T/vs-$cc.out &
	_pids="$_pids $!"
	wait_for 5 grep -q listening $T/vs-$cc.out || { echo "bench: congestion control $cc: $(cat $T/vs-$cc.out)"; exit 1; }
	eval "VP_$cc=$(awk '{print $2}' $T/vs-$cc.out)"
done
veth() {	# veth CC up|down
	local port
	eval "port=\$VP_$1"
	BLAST_CC=$1 ip netns exec $NS "${APP[@]}" $B/tests/fake/blast client 192.168.77.2:$port $2 $BYTES | field gbps
}

# --- fake cloud ---------------------------------------------------------------
ip netns exec $NS $B/tests/fake/blast server 127.0.0.1:0 > $T/bs.out &
_pids="$_pids $!"
wait_for 5 grep -q listening $T/bs.out
BP=$(awk '{print $2}' $T/bs.out)
ip netns exec $NS $B/tests/fake/ingress --listen 127.0.0.1:0 --cert $T/pki/ingress.pem \
	--key $T/pki/ingress.key --client-ca $T/pki/client-ca.pem \
	--route my-api.test:80=127.0.0.1:$BP --route lo-api.test:8080=127.0.0.1:$BP \
	> $T/ing.out 2>$T/ing.err &
_pids="$_pids $!"
wait_for 5 grep -q listening $T/ing.out
IP=$(awk '{print $2}' $T/ing.out)
TLS="--tls $T/pki/client.pem $T/pki/client.key $T/pki/ca.pem ingress.test my-api.test 80"
direct() { ip netns exec $NS $B/tests/fake/blast client 127.0.0.1:$IP $1 $BYTES $TLS | field gbps; }
[ "${BENCH_ONLY:-}" = datapath ] || direct_up=$(median direct up)
[ "${BENCH_ONLY:-}" = datapath ] || direct_down=$(median direct down)

harness() {	# harness MTU [args]: starts dp_harness, sets HP
	mtu=$1; shift
	: > $T/h.out
	ip netns exec $NS "${PEER[@]}" $B/tests/fake/dp_harness --ingress 127.0.0.1:$IP \
		--cert $T/pki/client.pem --key $T/pki/client.key --ca $T/pki/ca.pem \
		--insecure --mtu $mtu --endpoint my-api.test:80=10.107.0.3 "$@" \
		> $T/h.out 2>>$T/h.err &
	HP=$!
	_pids="$_pids $HP"
	wait_for 5 grep -q ready $T/h.out
}
stop_harness() { kill $HP; wait $HP 2>/dev/null; }
through() {	# through up|down [CC]: prints "gbps cpu_s_per_gb"
	c0=$(cpu $HP)
	g=$(BLAST_CC=${2:-} ip netns exec $NS "${APP[@]}" $B/tests/fake/blast client 10.107.0.3:80 $1 $BYTES | field gbps)
	c1=$(cpu $HP)
	echo "$g $(echo "scale=3; ($c1 - $c0) / ($BYTES / 1000000000)" | bc)"
}

printf '\n== data path: app -> TUN -> lwIP -> back (in-process sink, no TLS), single stream, vs kernel veth ==\n'
printf 'app on core 0, ngrokd and the veth receiver on core 1: %s\n' "${APP[*]:-no (BENCH_PIN=0 or one core)}"
printf '%-8s %-5s %-6s %10s %10s %7s %12s\n' mtu dir cc ngrokd veth ratio cpu-s/GB
for mtu in 1500 16040; do
	[ "${BENCH_ONLY:-}" = tunnel ] && break
	ip -n $NS link set vb0 mtu $mtu
	ip -n $NS2 link set vb1 mtu $mtu
	harness $mtu --sink
	for dir in up down; do
		for cc in $CCS; do
			# veth and ngrokd back to back, RUNS times: this VM's
			# single-stream figures jump between two levels (veth
			# 55 or 100 Gbit/s) for minutes at a time, so a ratio
			# is only taken within one pair; the median pair by
			# ratio is printed.
			set -- $(for i in $(seq $RUNS); do
				v=$(veth $cc $dir)
				set -- $(through $dir $cc)
				echo "$(ratio "${1:-0}" "${v:-1}") $1 $v $2"
			done | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
			printf '%-8s %-5s %-6s %9sG %9sG %6sx %12s\n' $mtu $dir $cc "$2" "$3" "$1" "$4"
		done
	done
	stop_harness
done
[ "${BENCH_ONLY:-}" = datapath ] && exit 0

printf '\n== tunnel: single stream through ngrokd (TUN, lwIP, wolfSSL, ingress) vs TLS straight to the ingress (MTU 16040) ==\n'
printf '%-5s %10s %10s %7s %12s\n' dir ngrokd direct ratio cpu-s/GB
harness 16040
for dir in up down; do
	set -- $(median through $dir)
	eval "d=\$direct_$dir"
	printf '%-5s %9sG %9sG %6sx %12s\n' $dir "$1" "$d" "$(ratio "${1:-0}" "$d")" "$2"
done
stop_harness
[ "${BENCH_ONLY:-}" = tunnel ] && exit 0

printf '\n== new connections: %s connections, 1-byte reply, time to first byte ==\n' "$CONNS"
printf '%-22s %5s %10s %9s %9s %14s\n' path conc conn/s p50_ms p99_ms ngrokd-cpu-ms/conn
for mode in full resumed pooled; do
	case $mode in
	full)	harness 16040 --no-resumption ;;
	resumed) harness 16040 ;;
	pooled)	harness 16040 --pool 8; sleep 1 ;;
	esac
	for conc in 1 32; do
		c0=$(cpu $HP)
		line=$(ip netns exec $NS $B/tests/fake/blast rate 10.107.0.3:80 $CONNS $conc)
		c1=$(cpu $HP)
		per=$(echo "scale=3; ($c1 - $c0) * 1000 / $CONNS" | bc)
		printf '%-22s %5s %10s %9s %9s %14s\n' "ngrokd ($mode)" $conc \
			"$(echo "$line" | field rate)" "$(echo "$line" | field p50_ms)" \
			"$(echo "$line" | field p99_ms)" "$per"
		eval "cpu_${mode}_$conc=$per"
	done
	kill -USR1 $HP
	wait_for 5 grep -q "^stats" $T/h.out
	[ $mode != pooled ] &&
		eval "hs_$mode=$(grep '^stats' $T/h.out | tail -1 | field hs_cpu_us_$mode)"
	stop_harness
done
for conc in 1 32; do
	line=$(ip netns exec $NS $B/tests/fake/blast rate 127.0.0.1:$IP $CONNS $conc $TLS)
	printf '%-22s %5s %10s %9s %9s %14s\n' "direct TLS (full)" $conc \
		"$(echo "$line" | field rate)" "$(echo "$line" | field p50_ms)" \
		"$(echo "$line" | field p99_ms)" -
done
printf '\n== fronts: the loopback fallback (kernel listeners on 127.0.0.x) beside the TUN front ==\n'
printf '%-10s %10s %10s %12s %12s\n' front up down conn/s-c1 conn/s-c32
front_run() {	# front_run NAME ADDR [harness args]
	name=$1 addr=$2; shift 2
	harness 16040 "$@" --endpoint lo-api.test:8080=127.0.0.9
	up=$(ip netns exec $NS $B/tests/fake/blast client $addr up $BYTES | field gbps)
	down=$(ip netns exec $NS $B/tests/fake/blast client $addr down $BYTES | field gbps)
	r1=$(ip netns exec $NS $B/tests/fake/blast rate $addr $CONNS 1 | field rate)
	r32=$(ip netns exec $NS $B/tests/fake/blast rate $addr $CONNS 32 | field rate)
	printf '%-10s %9sG %9sG %12s %12s\n' "$name" "$up" "$down" "$r1" "$r32"
	stop_harness
}
front_run tun 10.107.0.3:80
front_run loopback 127.0.0.9:8080 --loopback

printf '\n== discovery with 10,000 endpoints ==\n'
CMOCKA_MESSAGE_OUTPUT=TAP $B/tests/unit/disc_reconcile_test | sed -n 's/^# reconcile/reconcile/p'
CMOCKA_MESSAGE_OUTPUT=TAP $B/tests/unit/disc_hosts_test | sed -n 's/^# hosts/hosts-file/p'

printf '\nTLS handshake CPU in ngrokd (thread CPU time inside wolfSSL_connect, syscalls included):\n'
printf '  full %s us, resumed %s us: resumed is %sx cheaper\n' "$hs_full" "$hs_resumed" \
	"$(ratio "$hs_full" "$hs_resumed")"
printf 'whole-connection CPU in ngrokd: full %s ms, resumed %s ms (%sx, concurrency 1)\n' \
	"$cpu_full_1" "$cpu_resumed_1" "$(ratio "$cpu_full_1" "$cpu_resumed_1")"
