#!/bin/sh
# tests/run.sh [PATTERN...]: runs every unit test binary and every system
# test script, prints one line per check, and ends with "N passed, N failed"
# (", N skipped" when some were).  Every test speaks TAP: "ok N - what" /
# "not ok N - what" (cmocka with CMOCKA_MESSAGE_OUTPUT=TAP, and our scripts).
# A test that exits non-zero without reporting a failure counts as one.
OUT=${OUT:-build/release}
export OUT
pass=0 fail=0 skip=0
failed_names=""
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

selected() {
	[ $# -eq 0 ] && return 0
	name=$1; shift
	for p in $PATTERNS; do
		case "$name" in *"$p"*) return 0 ;; esac
	done
	return 1
}
PATTERNS="$*"

# run NAME TIMEOUT CMD...: runs one test, tallies its TAP lines.
run() {
	name=$1 limit=$2; shift 2
	[ -n "$PATTERNS" ] && ! selected "$name" x && return 0
	start=$(date +%s)
	CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 10 "$limit" "$@" > "$tmp/out" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	# A skip is "ok N # SKIP" in TAP, "not ok N # SKIP" from cmocka.
	s=$(grep -c -E '^(not )?ok .*# *[Ss][Kk][Ii][Pp]' "$tmp/out")
	p=$(grep -v -E '# *[Ss][Kk][Ii][Pp]' "$tmp/out" | grep -c '^ok ')
	f=$(grep -v -E '# *[Ss][Kk][Ii][Pp]' "$tmp/out" | grep -c '^not ok ')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "not ok - $name: timed out after ${limit}s" >> "$tmp/out"
		else
			echo "not ok - $name: exited with status $rc" >> "$tmp/out"
		fi
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	if [ "$f" -gt 0 ]; then
		echo "FAIL $name (${secs}s): $p passed, $f failed"
		# Show the failures and what the test said about them.
		grep -v '^ok ' "$tmp/out" | grep -v '^1\.\.' | sed 's/^/    /' | head -60
		failed_names="$failed_names $name"
	else
		echo "ok   $name (${secs}s): $p passed, $s skipped" | sed 's/, 0 skipped//'
	fi
}

for t in "$OUT"/tests/unit/*_test; do
	[ -x "$t" ] || continue
	run "unit/$(basename "$t")" 300 "$t"
done

for t in tests/system/*.sh; do
	[ -f "$t" ] || continue
	n="system/$(basename "$t" .sh)"
	if [ "$(id -u)" != 0 ]; then
		[ -n "$PATTERNS" ] && ! selected "$n" x && continue
		echo "skip $n: needs root (network namespaces, TUN devices)"
		skip=$((skip + 1))
		continue
	fi
	run "$n" 900 bash "$t"
done

[ -n "$failed_names" ] && echo "failed:$failed_names"
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
