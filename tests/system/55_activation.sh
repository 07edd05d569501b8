#!/bin/bash
# ngrokd itself started with a socket passed by the service manager
# (LISTEN_FDS/LISTEN_PID, as systemd's ngrokd.socket does): it serves the
# control protocol on that socket and leaves the socket file to its owner.
set -u
. tests/lib/tap.sh
B=$OUT
T=$(mktemp -d)
at_exit "rm -rf $T"
NS=ngrokdtest-$$-act
netns_new $NS
SOCK=$T/passed.sock
cat > $T/cfg.yml <<YAML
server:
  socket_path: $T/unused.sock
  state_dir: $T/state
  hosts_file: $T/hosts
net:
  mode: loopback
health:
  enabled: false
YAML

# A small launcher: binds and listens on SOCK, then execs ngrokd with the
# socket at fd 3, as systemd does.
cat > $T/launch.py <<'PY'
import os, socket, sys
path, argv = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o660)
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="control")
os.execv(argv[0], argv)
PY
ip netns exec $NS python3 $T/launch.py $SOCK $B/ngrokd --config $T/cfg.yml --foreground 2>$T/log &
PID=$!
_pids="$_pids $PID"
check "ngrokd starts with the passed socket" wait_for 10 grep -q "info  ready" $T/log
out=$($B/ngrokctl --socket $SOCK --json status 2>&1)
check "ngrokctl status is answered on the passed socket" \
	sh -c "printf '%s' '$out' | grep -q '\"success\":true'"
echo "$out" > $T/status.json
check "status names the mode" grep -q "\"mode\": *\"loopback\"" $T/status.json
check "no socket is created at server.socket_path" test ! -e $T/unused.sock
check "the log says the socket was passed in" grep -qi "activat\|passed\|LISTEN_FDS\|listening on fd" $T/log
kill -TERM $PID
wait $PID
check "SIGTERM exits 0" test $? -eq 0
check "the passed socket file is left to its owner (not unlinked)" test -S $SOCK
tap_done
