#!/bin/bash
# tests/fuzz/run.sh [NAME...]: runs each libFuzzer target (build/fuzz/tests/fuzz/
# NAME_fuzz) for FUZZ_SECONDS, starting from its seed corpus
# (tests/fuzz/corpus/NAME/, committed) into a working corpus under build/,
# and keeps any crash input in build/fuzz/crashes/.  Prints one TAP line per
# target and the figures libFuzzer reports.
set -u
OUT=${OUT:-build/fuzz}
SECS=${FUZZ_SECONDS:-10}
n=0 failed=0
mkdir -p "$OUT/corpus" "$OUT/crashes"
for bin in "$OUT"/tests/fuzz/*_fuzz; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin" _fuzz)
	if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
		continue
	fi
	n=$((n + 1))
	work="$OUT/corpus/$name"
	mkdir -p "$work"
	seeds=tests/fuzz/corpus/$name
	[ -d "$seeds" ] || seeds=
	log="$OUT/$name.log"
	"$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$OUT/crashes/$name-" -print_final_stats=1 \
		"$work" $seeds > "$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $rc -eq 0 ]; then
		echo "ok $n - $name: ${execs:-?} runs in ${SECS}s, ${cov:-cov: ?}"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name: crashed (see $log and $OUT/crashes/)"
		grep -m5 -E 'ERROR|SUMMARY|panic' "$log" | sed 's/^/# /'
	fi
done
echo "1..$n"
[ $failed -eq 0 ]
