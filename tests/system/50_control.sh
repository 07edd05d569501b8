#!/bin/bash
# 50_control: the control socket and ngrokctl against tests/fake/ctl_server
# (the real control module with fake handlers).  Creates two groups and two
# users for the test (removed at exit): a reader and an admin.  Checks the
# socket file's mode and group, who may do what (root, a group member, an
# admin-group member, nobody), the audit lines, that the API key never shows
# up in the log or in replies, ngrokctl's messages and exit codes, stale and
# live socket files, misbehaving clients, and socket activation.
. tests/lib/tap.sh

CTL=$OUT/ngrokctl
SRV=$OUT/tests/fake/ctl_server
PY=/usr/bin/python3
T=$(mktemp -d /tmp/ngrokd-ctl.XXXXXX)
chmod 755 "$T"
at_exit "rm -rf '$T'"
G=ngkr$$ A=ngka$$ U=ngku$$ V=ngkv$$
at_exit "userdel $U 2>/dev/null; userdel $V 2>/dev/null; groupdel $G 2>/dev/null; groupdel $A 2>/dev/null"
groupadd "$G" && groupadd "$A" &&
useradd -M -N -g nogroup -G "$G" -s /usr/sbin/nologin -d /nonexistent "$U" &&
useradd -M -N -g nogroup -G "$G,$A" -s /usr/sbin/nologin -d /nonexistent "$V" ||
	{ notok "create test users and groups"; tap_done; exit 0; }
UID_U=$(id -u "$U") UID_V=$(id -u "$V")
KEY="ak_$$_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_user() { u=$1; shift; setpriv --reuid="$u" --regid=nogroup --init-groups "$@"; }

# start_server NAME ARGS...: ctl_server in the background, waits for "ready".
start_server() {
	name=$1; shift
	bg "$SRV" "$@" > "$T/$name.out" 2> "$T/$name.log"
	wait_for 5 grep -q '^ready$' "$T/$name.out"
}

S=$T/ctl.sock
export NGROKD_SOCKET=$S
if ! start_server main --socket "$S" --group "$G" --admin-group "$A" --key-file "$T/key"; then
	notok "fake control server starts" "$(cat "$T/main.log")"
	tap_done; exit 0
fi
MAIN_PID=$BG_PID
ok "fake control server starts"

# --- the socket file ---
m=$(stat -c '%a %G' "$S")
[ "$m" = "660 $G" ] && ok "socket is mode 0660, group $G" || notok "socket is mode 0660, group $G" "got: $m"

# --- root: everything ---
out=$("$CTL" status 2>&1); rc=$?
[ $rc = 0 ] && printf '%s' "$out" | grep -q '^operator_id *k8sop_fake123$' &&
	printf '%s' "$out" | grep -q '^uptime_s *1h 2m 5s$' &&
	ok "root: status (human readable)" || notok "root: status (human readable)" "rc=$rc $out"
out=$("$CTL" list 2>&1); rc=$?
[ $rc = 0 ] && printf '%s' "$out" | head -1 | grep -q '^ID  *HOST  *ADDRESS  *PORT' &&
	printf '%s' "$out" | grep -q '^ep_1  *my-api.ngrok.app  *10.107.0.3  *443 ' &&
	ok "root: list is a table" || notok "root: list is a table" "rc=$rc $out"
out=$("$CTL" --json list 2>&1); rc=$?
[ $rc = 0 ] && printf '%s' "$out" | $PY -c 'import json,sys; r=json.load(sys.stdin); assert r["success"] is True and r["protocol"]==1 and r["data"]["endpoints"][1]["port"]==5432' &&
	ok "root: --json list is the raw reply" || notok "root: --json list is the raw reply" "rc=$rc $out"
out=$("$CTL" version 2>&1)
printf '%s' "$out" | grep -q "^ngrokd *$(cat VERSION) (protocol 1)$" && ok "root: version" || notok "root: version" "$out"
check "root: health exits 0 when ready" "$CTL" health
check "root: refresh-cert" "$CTL" refresh-cert
out=$("$CTL" --socket "$S" deregister 2>&1)
[ "$out" = "deregistered" ] && ok "root: deregister (--socket)" || notok "root: deregister (--socket)" "$out"

# --- nobody: the kernel refuses the connect (socket is 0660) ---
out=$(as_nobody "$CTL" status 2>&1); rc=$?
[ $rc = 2 ] && [ "$out" = "ngrokctl: $S: permission denied (you are not in group $G)" ] &&
	ok "nobody: refused, exit 2, says which group" || notok "nobody: refused, exit 2, says which group" "rc=$rc $out"

# --- a member of the read group: status yes, set-api-key no ---
out=$(as_user "$U" "$CTL" status 2>&1); rc=$?
[ $rc = 0 ] && printf '%s' "$out" | grep -q '^registered *no$' &&
	ok "group member: status" || notok "group member: status" "rc=$rc $out"
out=$(echo "$KEY" | as_user "$U" "$CTL" set-api-key 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "ngrokctl: set-api-key: permission denied (set-api-key needs root or group $A)" ] &&
	ok "group member: set-api-key refused, exit 1" || notok "group member: set-api-key refused, exit 1" "rc=$rc $out"
grep -q "audit: uid=$UID_U gid=[0-9]* pid=[0-9]* command=set-api-key outcome=refused$" "$T/main.log" &&
	ok "audit line for the refused set-api-key" || notok "audit line for the refused set-api-key" "$(grep audit "$T/main.log")"
[ ! -e "$T/key" ] && ok "refused key was not handed to the daemon" || notok "refused key was not handed to the daemon"

# --- an admin-group member (also in the read group: the socket file is
# group $G, so the kernel lets only its members connect): set-api-key ---
out=$(echo "$KEY" | as_user "$V" "$CTL" set-api-key 2>&1); rc=$?
[ $rc = 0 ] && [ "$out" = "API key saved; provisioning started" ] && [ "$(cat "$T/key")" = "$KEY" ] &&
	ok "admin member: set-api-key from stdin arrives intact" || notok "admin member: set-api-key from stdin arrives intact" "rc=$rc $out"
grep -q "audit: uid=$UID_V gid=[0-9]* pid=[0-9]* command=set-api-key outcome=ok$" "$T/main.log" &&
	ok "audit line for the privileged request" || notok "audit line for the privileged request"
out=$(as_user "$V" "$CTL" status 2>&1)
printf '%s' "$out" | grep -q '^registered *yes$' && ok "admin member: status shows registered" || notok "admin member: status shows registered" "$out"

# --- root: key as an argument works, with a warning; failures exit 1 ---
out=$("$CTL" set-api-key "${KEY}x" 2>&1 >/dev/null); rc=$?
[ $rc = 0 ] && printf '%s' "$out" | grep -q 'warning: a key on the command line' && [ "$(cat "$T/key")" = "${KEY}x" ] &&
	ok "root: key as argument accepted with a warning" || notok "root: key as argument accepted with a warning" "rc=$rc $out"
out=$(echo fail-key | "$CTL" set-api-key - 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "ngrokctl: set-api-key: provisioning failed: HTTP 401" ] &&
	ok "handler failure: exit 1 with its message" || notok "handler failure: exit 1 with its message" "rc=$rc $out"
out=$(printf '\n' | "$CTL" set-api-key 2>&1); rc=$?
[ $rc = 2 ] && ok "empty key: usage error" || notok "empty key: usage error" "rc=$rc $out"

# --- the key never shows up ---
all=$("$CTL" --json status; "$CTL" --json list; "$CTL" status)
if grep -qF "$KEY" "$T/main.log" || printf '%s' "$all" | grep -qF "$KEY"; then
	notok "API key absent from the log, status and list"
else
	ok "API key absent from the log, status and list"
fi

# --- ngrokctl's own errors ---
out=$("$CTL" --socket "$T/none.sock" status 2>&1); rc=$?
[ $rc = 2 ] && [ "$out" = "ngrokctl: $T/none.sock: No such file or directory (is ngrokd running?)" ] &&
	ok "not running: clear message, exit 2" || notok "not running: clear message, exit 2" "rc=$rc $out"
out=$("$CTL" frobnicate 2>&1); rc=$?
[ $rc = 2 ] && ok "unknown command: exit 2" || notok "unknown command: exit 2" "rc=$rc $out"
out=$("$CTL" status extra 2>&1); rc=$?
[ $rc = 2 ] && ok "extra argument: exit 2" || notok "extra argument: exit 2" "rc=$rc $out"
"$CTL" --help | grep -q '^usage: ngrokctl' && ok "--help" || notok "--help"
# A socket that accepts and never answers.
$PY - "$T/mute.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
c, _ = s.accept(); time.sleep(5)
PY
_pids="$_pids $!"
wait_for 3 test -S "$T/mute.sock"
t0=$(date +%s%N)
out=$("$CTL" --socket "$T/mute.sock" --timeout 1 status 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc = 2 ] && [ "$out" = "ngrokctl: $T/mute.sock: timed out waiting for ngrokd" ] && [ $ms -lt 3000 ] &&
	ok "silent daemon: timed out, exit 2" || notok "silent daemon: timed out, exit 2" "rc=$rc ${ms}ms $out"

# --- raw protocol, bad clients, and a good client that stays fast ---
cat > "$T/bad.py" <<'PY'
import json, socket, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); return s
def ask(s, line):
    s.sendall(line); buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(65536)
        if not d: break
        buf += d
    return json.loads(buf) if buf else None
good = conn()
def good_fast():
    t = time.monotonic(); r = ask(good, b'{"command":"status","args":[]}\n')
    ms = (time.monotonic() - t) * 1000
    assert r["success"] and ms < 100, (r, ms)
cases = [
    (b'{"command":\n', "invalid JSON"),
    (b'[1,2]\n', "request must be a JSON object"),
    (b'{"args":[]}\n', 'missing "command"'),
    (b'{"command":7}\n', '"command" must be a string'),
    (b'{"command":"status","args":"x"}\n', '"args" must be an array of strings'),
    (b'{"command":"status","args":[true]}\n', '"args"[0] must be a string'),
    (b'{"command":"list","args":["x"]}\n', "list takes no arguments"),
    (b'{"command":"set-api-key","args":[]}\n', "set-api-key takes exactly 1 argument"),
    (b'{"command":"nope"}\n', 'unknown command "nope"'),
    (b'\x00\xff\xfe binary\n', "invalid JSON"),
    (b'{"command":"status"}{}\n', "invalid JSON: unexpected data"),
    (b'x' * 70000, "request too long"),
]
for req, want in cases:
    s = conn(); r = ask(s, req); s.close()
    assert r and r["success"] is False and r["error"].startswith(want) and r["protocol"] == 1, (req[:40], r)
    good_fast()
# half a line, then close; a client that never reads; 300 idle connections
s = conn(); s.sendall(b'{"command":"sta'); s.close(); good_fast()
hog = conn(); hog.setblocking(False)
try:
    for _ in range(2000):
        hog.send(b'{"command":"list"}\n' * 50)
except (BlockingIOError, BrokenPipeError, ConnectionResetError):
    pass
good_fast()
idle = []
for _ in range(300):
    try: idle.append(conn())
    except OSError: break
good_fast()
print("ok", len(cases) + 4)
PY
# Its own server with a high rate limit: the bad clients share the good
# one's uid, and the per-uid limit is checked separately below.
SB=$T/bad.sock
start_server bad --socket "$SB" --rate 100000 --burst 100000
BAD_PID=$BG_PID
out=$($PY "$T/bad.py" "$SB" 2>&1); rc=$?
[ $rc = 0 ] && ok "12 bad requests + half line + hog + 300 clients; good client < 100 ms each time" ||
	notok "12 bad requests + half line + hog + 300 clients; good client < 100 ms each time" "$out"
kill -0 "$BAD_PID" 2>/dev/null && "$CTL" --socket "$SB" status >/dev/null &&
	ok "server survived and answers" || notok "server survived and answers"

# --- per-uid rate limit (default 20/s, burst 40): 60 requests at once ---
out=$($PY - "$S" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"command":"version"}\n' * 60)
f = s.makefile("rb"); n = {"ok": 0, "limited": 0}
for _ in range(60):
    r = json.loads(f.readline())
    if r["success"]: n["ok"] += 1
    elif r["error"] == "rate limited": n["limited"] += 1
print(n["ok"], n["limited"])
PY
)
set -- $out
[ "${1:-0}" -ge 35 ] && [ "${1:-99}" -le 42 ] && [ $(( ${1:-0} + ${2:-0} )) = 60 ] &&
	ok "rate limit: about 40 served, the rest \"rate limited\"" || notok "rate limit: about 40 served, the rest \"rate limited\"" "$out"

# --- server-side refusal when the file mode lets anyone in ---
S2=$T/open.sock
if start_server open --socket "$S2" --group "$G" --mode 0666; then
	out=$(as_nobody "$CTL" --socket "$S2" status 2>&1); rc=$?
	[ $rc = 1 ] && [ "$out" = "ngrokctl: status: permission denied (uid 65534 is not root or in group $G)" ] &&
		ok "nobody on a 0666 socket: refused by the server" || notok "nobody on a 0666 socket: refused by the server" "rc=$rc $out"
	grep -q "audit: uid=65534 gid=65534 pid=[0-9]* command=status outcome=refused$" "$T/open.log" &&
		ok "audit line for nobody" || notok "audit line for nobody" "$(cat "$T/open.log")"
else
	notok "server with --mode 0666 starts" "$(cat "$T/open.log")"
fi

# --- missing group: root-only socket ---
S3=$T/rootonly.sock
if start_server rootonly --socket "$S3" --group "no-such-group-$$"; then
	m=$(stat -c '%a %U %G' "$S3")
	[ "$m" = "600 root root" ] && grep -q "group \"no-such-group-$$\" does not exist" "$T/rootonly.log" &&
		ok "missing group: socket 0600 root:root, logged" || notok "missing group: socket 0600 root:root, logged" "$m"
else
	notok "server with a missing group starts"
fi

# --- stale and live socket files; removal at exit ---
if start_server live --socket "$S"; then
	notok "second server on a live socket refused"
else
	grep -q "another ngrokd is answering there" "$T/live.log" && ok "second server on a live socket refused" ||
		notok "second server on a live socket refused" "$(cat "$T/live.log")"
fi
kill -9 "$MAIN_PID"; wait "$MAIN_PID" 2>/dev/null
[ -S "$S" ] || notok "socket left behind by kill -9"
if start_server stale --socket "$S" --group "$G"; then
	STALE_PID=$BG_PID
	grep -q "removed stale socket" "$T/stale.log" && "$CTL" status >/dev/null &&
		ok "stale socket replaced" || notok "stale socket replaced" "$(cat "$T/stale.log")"
	kill "$STALE_PID"; wait "$STALE_PID" 2>/dev/null
	[ ! -e "$S" ] && ok "socket removed at exit" || notok "socket removed at exit"
else
	notok "stale socket replaced" "$(cat "$T/stale.log")"
fi

# --- socket activation: systemd-socket-activate passes LISTEN_FDS ---
SA=$T/act.sock
if command -v systemd-socket-activate >/dev/null; then
	bg systemd-socket-activate -l "$SA" "$SRV" --activation > "$T/act.out" 2> "$T/act.log"
	wait_for 5 test -S "$SA"
	out=$("$CTL" --socket "$SA" status 2>&1); rc=$?
	[ $rc = 0 ] && grep -q "serving the socket passed by the service manager" "$T/act.log" &&
		ok "systemd-socket-activate: served on the passed socket" || notok "systemd-socket-activate: served on the passed socket" "rc=$rc $out $(cat "$T/act.log")"
fi
# ... and the same by hand (python binds, sets LISTEN_*, execs with fd 3).
SP=$T/act2.sock
bg $PY -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="control")
os.execv(sys.argv[2], [sys.argv[2], "--activation"])' "$SP" "$SRV" > "$T/act2.out" 2> "$T/act2.log"
ACT_PID=$BG_PID
wait_for 5 grep -q '^ready$' "$T/act2.out"
out=$("$CTL" --socket "$SP" version 2>&1); rc=$?
[ $rc = 0 ] && grep -q "passed by the service manager" "$T/act2.log" &&
	ok "LISTEN_FDS by hand: served on fd 3" || notok "LISTEN_FDS by hand: served on fd 3" "rc=$rc $out $(cat "$T/act2.log")"
kill "$ACT_PID"; wait "$ACT_PID" 2>/dev/null
[ -S "$SP" ] && ok "activated socket file left to its owner" || notok "activated socket file left to its owner"

tap_done
