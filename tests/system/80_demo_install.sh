#!/bin/bash
# 80_demo_install.sh: what a newcomer and an administrator meet first.
#   - tests/demo/demo.sh (make demo) ends with the service's answer to curl,
#     exits 0, and leaves no namespace, process, device, mount or file
#     behind; interrupted (SIGINT, as Ctrl-C) it cleans up the same way;
#     the machine's /etc/hosts is not touched.
#   - make install DESTDIR=... installs the documented tree (modes, the
#     production config that passes --check and is never overwritten, no
#     group created), for Linux and (INSTALL_OS=Darwin) macOS; make
#     uninstall removes all but the configuration.
#   - systemd-analyze verify accepts the installed unit files.
#   - every manual page renders without a groff warning.
#   - every key in daemon/config.c's key table is documented in
#     docs/ngrokd.yml.5, and the page documents no other key.
set -u
cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd)
. tests/lib/tap.sh

W=$(mktemp -d /tmp/ngrokdtest-80.XXXXXX)
at_exit "rm -rf '$W'"

# Runs make on the repository as the test runner's build: same OUT, no
# jobserver or variables inherited from an outer make.
MK=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$REPO")
case $OUT in
*/release) MK+=(BUILD="${OUT%/release}") ;;
*/asan) MK+=(BUILD="${OUT%/asan}" SANITIZE=1) ;;
*) MK+=(OUT="$OUT") ;;
esac
# Until the Makefile includes install.mk, read it explicitly (and say so).
if grep -q '^include install.mk' Makefile; then
	ok "the Makefile includes install.mk"
else
	notok "the Makefile includes install.mk" "add the line \"include install.mk\" at the end of the Makefile"
	MK+=(-f Makefile -f install.mk)
fi

# --- the demo ---------------------------------------------------------------
# Processes (other than this scan) whose command line mentions $1.
procs_with() {
	python3 - "$1" <<'EOF'
import os, sys
me = str(os.getpid())
for p in os.listdir("/proc"):
    if not p.isdigit() or p == me:
        continue
    try:
        with open("/proc/%s/cmdline" % p, "rb") as f:
            c = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    if sys.argv[1] in c:
        print(p, c[:200])
EOF
}
# check_clean WHAT OUTPUT_FILE: the namespace and the directory the demo
# named are gone, with every process, mount and device of theirs.
check_clean() {
	local label=$1 log=$2 ns dir left
	ns=$(grep -o 'ngrokd-demo-[0-9]*' "$log" | head -1)
	dir=$(grep -o '/tmp/ngrokd-demo\.[A-Za-z0-9]*' "$log" | head -1)
	if [ -z "$ns" ] || [ -z "$dir" ]; then
		notok "$label: the demo names its namespace and directory" "$(head -3 "$log")"
		return
	fi
	check "$label: namespace $ns is gone" eval '! ip netns list | grep -qw "$ns"'
	check "$label: $dir is gone" test ! -e "$dir"
	left=$(procs_with "$dir"; procs_with "$ns")
	check "$label: no process of the demo is left" test -z "$left"
	[ -n "$left" ] && echo "# left: $left"
	check "$label: no mount under $dir is left" eval '! grep -qF "$dir" /proc/self/mountinfo'
	check "$label: no ngrokd0 device in the root namespace" \
		eval '[ "$(ip -o link show ngrokd0 2>/dev/null | wc -l)" = "$DEV_BEFORE" ]'
}

demo_ok=1
[ "$(id -u)" = 0 ] || { ok "demo # SKIP needs root"; demo_ok=0; }
[ "$demo_ok" = 1 ] && [ ! -c /dev/net/tun ] && { ok "demo # SKIP no /dev/net/tun"; demo_ok=0; }
for b in "$OUT/ngrokd" "$OUT/ngrokctl" "$OUT/tests/fake/ingress"; do
	[ "$demo_ok" = 1 ] && [ ! -x "$b" ] && { notok "$b is built" "make test-build"; demo_ok=0; }
done
if [ "$demo_ok" = 1 ]; then
	DEV_BEFORE=$(ip -o link show ngrokd0 2>/dev/null | wc -l)
	hosts_sum=$(sha256sum /etc/hosts)
	sock_before=$(ls -l /var/run/ngrokd.sock 2>&1)

	OUT=$OUT timeout -k 10 180 bash tests/demo/demo.sh > "$W/demo.out" 2>&1
	rc=$?
	check "demo exits 0 (exit $rc)" test "$rc" = 0
	[ "$rc" = 0 ] || sed 's/^/# /' "$W/demo.out" | tail -25
	check "demo shows the service's answer to curl http://demo-api.ngrok.app/" \
		grep -q '^Hello from the demo service behind demo-api.ngrok.app' "$W/demo.out"
	check "demo shows ngrokctl status (registered, mode tun)" \
		eval 'grep -q "^== ngrokctl status ==" "$W/demo.out" && grep -Eq "^registered +yes" "$W/demo.out" && grep -Eq "^mode +tun" "$W/demo.out"'
	check "demo shows ngrokctl list with demo-api.ngrok.app at a 10.107 address" \
		eval 'grep -q "^== ngrokctl list ==" "$W/demo.out" && grep -Eq "^ep_demo_api +demo-api.ngrok.app +10\.107\.[0-9.]+ +80 " "$W/demo.out"'
	check "demo shows the hosts-file block" \
		eval 'sed -n "/^# BEGIN ngrokd managed block/,/^# END ngrokd managed block/p" "$W/demo.out" | grep -Eq "^10\.107\.[0-9.]+ demo-api.ngrok.app$"'
	check "demo: curl reached an endpoint address through the TUN device" \
		grep -Eq '^\(curl connected to 10\.107\.[0-9.]+:80, HTTP 200\)' "$W/demo.out"
	check_clean "demo" "$W/demo.out"
	check "demo: /etc/hosts unchanged" test "$(sha256sum /etc/hosts)" = "$hosts_sum"
	check "demo: /var/run/ngrokd.sock untouched" test "$(ls -l /var/run/ngrokd.sock 2>&1)" = "$sock_before"

	# Ctrl-C while ngrokd runs.  A background job ignores SIGINT, so the
	# demo is started with SIGINT restored to its default.
	python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' env OUT="$OUT" bash tests/demo/demo.sh > "$W/int.out" 2>&1 &
	DPID=$!
	at_exit "kill $DPID 2>/dev/null"
	ngpid=
	find_ngrokd() {
		local dir
		dir=$(grep -o '/tmp/ngrokd-demo\.[A-Za-z0-9]*' "$W/int.out" | head -1)
		[ -n "$dir" ] && ngpid=$(procs_with "$dir/ngrokd.yml" | awk '/ngrokd --config/ {print $1; exit}')
		[ -n "$ngpid" ] && grep -q 'waiting for discovery' "$W/int.out"
	}
	if wait_for 60 find_ngrokd; then
		kill -INT "$DPID"
		for _ in $(seq 300); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		wait "$DPID" 2>/dev/null
		rc=$?
		check "Ctrl-C: the demo stops with exit 130 ($rc)" test "$rc" = 130
		check "Ctrl-C: ngrokd (pid $ngpid) is stopped" eval '! kill -0 "$ngpid" 2>/dev/null'
		check_clean "Ctrl-C" "$W/int.out"
	else
		notok "Ctrl-C: the demo started ngrokd" "$(tail -5 "$W/int.out")"
	fi
	check "Ctrl-C: /etc/hosts unchanged" test "$(sha256sum /etc/hosts)" = "$hosts_sum"
fi

# --- make install -----------------------------------------------------------------
D=$W/dest
grp_before=$(getent group ngrokd)
if "${MK[@]}" install DESTDIR="$D" > "$W/install.out" 2>&1; then
	ok "make install DESTDIR=... succeeds"
else
	notok "make install DESTDIR=... succeeds" "$(tail -5 "$W/install.out")"
fi
# path mode, as documented in install.mk and docs/operating.md
while read -r path mode; do
	if [ ! -f "$D$path" ]; then
		notok "installed $path" "missing"
	else
		check "installed $path, mode $mode" test "$(stat -c %a "$D$path")" = "$mode"
	fi
done <<'EOF'
/usr/local/sbin/ngrokd 755
/usr/local/bin/ngrokctl 755
/usr/local/share/man/man8/ngrokd.8 644
/usr/local/share/man/man8/ngrokctl.8 644
/usr/local/share/man/man5/ngrokd.yml.5 644
/usr/local/share/doc/ngrokd/config.example.yml 644
/usr/local/share/doc/ngrokd/operating.md 644
/usr/local/share/doc/ngrokd/README.md 644
/etc/ngrokd/config.yml 600
/usr/local/lib/systemd/system/ngrokd.service 644
/usr/local/lib/systemd/system/ngrokd.socket 644
EOF
check "no launchd plist on Linux" test ! -e "$D/Library/LaunchDaemons/com.ngrok.ngrokd.plist"
n=$(find "$D" -type f | wc -l)
check "nothing else is installed ($n files: 10 + docs/*.md)" \
	test "$n" = "$((10 + $(ls docs/*.md | wc -l)))"
check "the installed ngrokd runs (--version)" \
	eval '"$D/usr/local/sbin/ngrokd" --version | grep -q "^ngrokd $(cat VERSION)$"'
conf=$D/etc/ngrokd/config.yml
check "the installed config passes ngrokd --check" "$D/usr/local/sbin/ngrokd" --config "$conf" --check
settings=$(grep -v '^[[:space:]]*#' "$conf")
check "the installed config has the production values (tun-capable auto mode, /etc/hosts, /var/lib/ngrokd, /var/run/ngrokd.sock)" \
	eval 'grep -q "^  mode: auto$" <<<"$settings" && grep -q "^  hosts_file: /etc/hosts$" <<<"$settings" &&
	    grep -q "^  state_dir: /var/lib/ngrokd$" <<<"$settings" && grep -q "^  socket_path: /var/run/ngrokd.sock$" <<<"$settings" &&
	    ! grep -q /tmp/ <<<"$settings"'
echo "# changed by the administrator" >> "$conf"
"${MK[@]}" install DESTDIR="$D" > "$W/install2.out" 2>&1
check "a second make install keeps the existing config.yml" \
	eval 'tail -1 "$conf" | grep -q "changed by the administrator" && grep -q "kept the existing" "$W/install2.out"'
check "make install with DESTDIR creates no group" test "$(getent group ngrokd)" = "$grp_before"
sed -n '/^ExecStart=/p' "$D/usr/local/lib/systemd/system/ngrokd.service" > "$W/exec"
check "the unit starts the installed ngrokd with the installed config" \
	grep -qx 'ExecStart=/usr/local/sbin/ngrokd --config /etc/ngrokd/config.yml --foreground' "$W/exec"

# Another PREFIX and SYSCONFDIR reach the unit files too.
D2=$W/dest2
"${MK[@]}" install DESTDIR="$D2" PREFIX=/opt/ngrokd SYSCONFDIR=/opt/ngrokd/etc > "$W/install3.out" 2>&1
check "PREFIX=/opt/ngrokd SYSCONFDIR=/opt/ngrokd/etc: paths in the unit follow" \
	eval 'grep -qx "ExecStart=/opt/ngrokd/sbin/ngrokd --config /opt/ngrokd/etc/ngrokd/config.yml --foreground" "$D2/opt/ngrokd/lib/systemd/system/ngrokd.service" &&
	    [ -f "$D2/opt/ngrokd/etc/ngrokd/config.yml" ] && [ -x "$D2/opt/ngrokd/bin/ngrokctl" ]'

# systemd-analyze verify: the installed units, with ExecStart pointing at
# the staged binary (verify insists that it exists) and man pages found in
# the staged tree (it checks Documentation=man:...).
if command -v systemd-analyze >/dev/null; then
	U=$W/units
	mkdir -p "$U"
	sed "s|/usr/local/sbin/ngrokd|$D/usr/local/sbin/ngrokd|g" \
		"$D/usr/local/lib/systemd/system/ngrokd.service" > "$U/ngrokd.service"
	cp "$D/usr/local/lib/systemd/system/ngrokd.socket" "$U/"
	vout=$(MANPATH=$D/usr/local/share/man systemd-analyze verify "$U/ngrokd.socket" "$U/ngrokd.service" 2>&1)
	rc=$?
	check "systemd-analyze verify accepts ngrokd.service and ngrokd.socket (no message)" \
		eval '[ "$rc" = 0 ] && [ -z "$vout" ]'
	[ -n "$vout" ] && echo "$vout" | sed 's/^/# /' | head -10
else
	ok "systemd-analyze verify # SKIP systemd-analyze not installed"
fi

# uninstall: everything but the configuration goes.
"${MK[@]}" uninstall DESTDIR="$D" > "$W/uninstall.out" 2>&1
left=$(cd "$D" && find . -type f | sort)
check "make uninstall removes everything but etc/ngrokd/config.yml" test "$left" = "./etc/ngrokd/config.yml"
[ "$left" = "./etc/ngrokd/config.yml" ] || echo "# left: $(tr '\n' ' ' <<<"$left")"

# macOS: the launchd plist instead of the units.
DM=$W/destmac
"${MK[@]}" install DESTDIR="$DM" INSTALL_OS=Darwin > "$W/install-mac.out" 2>&1
P=$DM/Library/LaunchDaemons/com.ngrok.ngrokd.plist
check "INSTALL_OS=Darwin: the plist is installed, no systemd units" \
	eval '[ "$(stat -c %a "$P" 2>/dev/null)" = 644 ] && [ ! -e "$DM/usr/local/lib/systemd" ]'
pout=$(python3 - "$P" <<'EOF' 2>&1
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
l = d["Sockets"]["Listeners"]
problems = [w for w, good in [
    ("Label", d["Label"] == "com.ngrok.ngrokd"),
    ("ProgramArguments", d["ProgramArguments"] == ["/usr/local/sbin/ngrokd", "--config", "/etc/ngrokd/config.yml", "--foreground"]),
    ("RunAtLoad", d["RunAtLoad"] is True),
    ("KeepAlive", d["KeepAlive"] is True),
    ("log paths", d["StandardErrorPath"] == "/var/log/ngrokd.log" and d["StandardOutPath"] == "/var/log/ngrokd.log"),
    ("socket path", l["SockPathName"] == "/var/run/ngrokd.sock"),
    ("socket mode 0660", l["SockPathMode"] == 0o660),
    ("socket family", l["SockFamily"] == "Unix"),
] if not good]
print(" ".join(problems) or "ok")
EOF
)
check "the plist parses: label, foreground program, KeepAlive, log paths, socket Listeners 0660" test "$pout" = ok
[ "$pout" = ok ] || echo "# $pout"

# --- manual pages ---------------------------------------------------------------------
for page in docs/ngrokd.8 docs/ngrokctl.8 docs/ngrokd.yml.5; do
	if ! command -v groff >/dev/null; then
		ok "$page renders # SKIP groff not installed"
		continue
	fi
	gout=$(groff -ww -z -mandoc -Tutf8 "$page" 2>&1)
	check "groff -ww renders $page without a warning" test -z "$gout"
	[ -n "$gout" ] && echo "$gout" | sed 's/^/# /' | head -5
	if command -v man >/dev/null; then
		err=$(MANWIDTH=80 man --warnings=w -l "$page" 2>&1 >"$W/page.txt")
		check "man -l $page: no warning, has NAME and SEE ALSO" \
			eval '[ -z "$err" ] && grep -q "^NAME" "$W/page.txt" && grep -q "^SEE ALSO" "$W/page.txt"'
		[ -n "$err" ] && echo "$err" | sed 's/^/# /' | head -5
	fi
done

# --- every configuration key is documented -------------------------------------------------
# The keys are the rows of config.c's table:  { "section", "name", K_..., or
# { NULL, "name", K_... for a top-level key.
keys=$(sed -n '/^static const struct key keys\[\] = {/,/^};/p' daemon/config.c |
	sed -n 's/^[[:space:]]*{[[:space:]]*\(NULL\|"\([A-Za-z_]*\)"\),[[:space:]]*"\([A-Za-z_]*\)",[[:space:]]*K_.*/\2.\3/p' |
	sed 's/^\.//')
nkeys=$(wc -w <<<"$keys")
check "the key table of daemon/config.c was read ($nkeys keys)" test "$nkeys" -ge 20
missing=""
for k in $keys; do
	grep -Eq "^\.It Ic ${k//./\\.}( |$)" docs/ngrokd.yml.5 || missing="$missing $k"
done
check "every config key is documented in docs/ngrokd.yml.5 (.It Ic KEY)" test -z "$missing"
[ -n "$missing" ] && echo "# undocumented:$missing"
extra=""
for k in $(sed -n 's/^\.It Ic \([A-Za-z_.]*\).*/\1/p' docs/ngrokd.yml.5); do
	grep -qx "$k" <<<"$keys" || extra="$extra $k"
done
check "docs/ngrokd.yml.5 documents no key the code does not have" test -z "$extra"
[ -n "$extra" ] && echo "# not in config.c:$extra"

tap_done
exit 0
