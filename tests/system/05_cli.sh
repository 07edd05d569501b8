#!/bin/bash
# The ngrokd command line and its life cycle: flags, --check, a clean
# SIGTERM, SIGHUP reloads (a bad file keeps the running configuration).
# The daemon runs in a private network namespace with temporary paths.
set -u
. tests/lib/tap.sh
B=$OUT
T=$(mktemp -d)
at_exit "rm -rf $T"
NS=ngrokdtest-$$-cli
netns_new $NS

out=$($B/ngrokd --version)
check "--version prints the version" test "$out" = "ngrokd $(cat VERSION)"
check "--help lists every flag" sh -c "$B/ngrokd --help | grep -q -- '--pcap-max-bytes'"
$B/ngrokd --no-such-flag >/dev/null 2>&1
check "an unknown flag exits 2" test $? -eq 2
msg=$($B/ngrokd --log-level loud 2>&1)
check "a bad --log-level is named" test "$msg" = 'ngrokd: --log-level: "loud" is not one of error, warn, info, debug'
msg=$($B/ngrokd --pcap-max-bytes 10 2>&1)
check "--pcap-max-bytes without --pcap is refused" test "$msg" = "ngrokd: --pcap-max-bytes needs --pcap FILE"
msg=$($B/ngrokd --config $T/missing.yml --check 2>&1)
check "a missing config file is named" test "$msg" = "ngrokd: $T/missing.yml: No such file or directory"

cat > $T/cfg.yml <<YAML
api:
  url: http://127.0.0.1:9
server:
  log_level: info
  socket_path: $T/ngrokd.sock
  state_dir: $T/state
  hosts_file: $T/hosts
net:
  mode: loopback
YAML
check "--check accepts a good file" sh -c "$B/ngrokd --config $T/cfg.yml --check | grep -q 'configuration OK'"
printf 'net:\n  mtu: big\n' > $T/bad.yml
msg=$($B/ngrokd --config $T/bad.yml --check 2>&1)
check "--check names file, line, column and key" test "$msg" = "ngrokd: $T/bad.yml:2:8: net.mtu: expected an integer, got \"big\""

ip netns exec $NS $B/ngrokd --config $T/cfg.yml --foreground 2>$T/log &
PID=$!
_pids="$_pids $PID"
check "the daemon logs its configuration and becomes ready" wait_for 10 grep -q "info  ready" $T/log
check "the summary names the config file" grep -q "config: file $T/cfg.yml" $T/log
check "the control socket exists" test -S $T/ngrokd.sock

cp $T/cfg.yml $T/good.yml
printf 'bogus: 1\n' >> $T/cfg.yml
kill -HUP $PID
check "SIGHUP with a bad file keeps the running configuration" \
	wait_for 5 grep -q "SIGHUP: $T/cfg.yml:.*unknown key \"bogus\"; keeping the running configuration" $T/log
check "the daemon is still running" kill -0 $PID
cp $T/good.yml $T/cfg.yml
sed -i 's/log_level: info/log_level: debug/' $T/cfg.yml
kill -HUP $PID
check "SIGHUP with a good file reloads it" wait_for 5 grep -q "SIGHUP: configuration reloaded from $T/cfg.yml" $T/log

kill -TERM $PID
wait $PID
rc=$?
check "SIGTERM exits 0" test $rc -eq 0
check "shutdown is logged" grep -q "shutting down" $T/log
check "the control socket is removed" test ! -e $T/ngrokd.sock
tap_done
