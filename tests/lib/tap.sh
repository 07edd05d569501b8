# tests/lib/tap.sh: TAP output and clean-up helpers for system tests.
# Source it from a bash script; call tap_done at the end.
#   check "what" CMD...      runs CMD; prints ok/not ok
#   ok "what" / notok "what" "why"
#   netns_new NAME           creates a namespace (removed at exit) with lo up
#   bg CMD...                starts CMD in the background, remembered for clean-up
#   wait_for SECS CMD...     retries CMD every 0.1 s until it succeeds
#   at_exit "shell code"     runs at exit (in reverse order), also on failure
OUT=${OUT:-build/release}
TAP_N=0
TAP_FAILED=0
_cleanups=""
_pids=""
_netns=""

ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1"
}

notok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/# /'
	return 0
}

check() {
	local what=$1 _out
	shift
	if _out=$("$@" 2>&1); then
		ok "$what"
	else
		notok "$what" "$(printf '%s' "$_out" | tail -5)"
	fi
}

at_exit() {
	_cleanups="$1
$_cleanups"
}

_tap_cleanup() {
	for p in $_pids; do
		kill "$p" 2>/dev/null
	done
	for p in $_pids; do
		for _ in 1 2 3 4 5 6 7 8 9 10 20 30; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
	done
	eval "$_cleanups"
	for n in $_netns; do
		ip netns del "$n" 2>/dev/null
	done
}
trap _tap_cleanup EXIT
trap 'exit 1' INT TERM

netns_new() {
	ip netns del "$1" 2>/dev/null
	ip netns add "$1" || return 1
	_netns="$_netns $1"
	ip -n "$1" link set lo up
}

# bg CMD...: sets BG_PID.
bg() {
	"$@" &
	BG_PID=$!
	_pids="$_pids $BG_PID"
}

wait_for() {
	limit=$1; shift
	i=0
	while [ "$i" -lt $((limit * 10)) ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

tap_done() {
	echo "1..$TAP_N"
	return 0
}
