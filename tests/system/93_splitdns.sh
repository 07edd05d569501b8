#!/bin/bash
# 93_splitdns.sh: split-DNS registration by the real ngrokd, with a fake
# resolvectl (systemd-resolved is not available here, and the host's must
# never be touched).  The fake is named by NGROKD_RESOLVECTL (ngrokd never
# looks resolvectl up in $PATH; see daemon/splitdns.c) and records every
# run's arguments, "|"-separated, one line per run.
#
# In a private namespace, with the fake ngrok API, the fake ingress and a
# backend (tests/lib/cloud.sh) and server.manage_hosts: false:
# registration at start (dns, ~domains, default-route false on ngrokd0),
# names resolving through ngrokd's DNS responder alone (resolv.conf points
# at 10.107.0.2, the hosts file has no endpoint names), the hosts file left
# byte for byte, re-registration when an endpoint appears and on SIGHUP
# (dns.domains, dns.register), revert at SIGTERM, clean-up after SIGKILL
# (record in the state dir; a leftover link is reverted), a stale ngrokd
# hosts block removed once, resolvectl failing (one log line, status says
# so, the daemon keeps serving), and the config error for manage_hosts
# without dns.enabled.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/certs.sh
. tests/lib/cloud.sh

cloud_init 93 sd "split DNS tests"
cloud_require curl python3 openssl unshare dig
cloud_certs || cloud_setup_failed "test certificates made"

# --- the fake resolvectl ---------------------------------------------------------
# $T is mode 0700 and root's: ngrokd accepts NGROKD_RESOLVECTL only when the
# file and its directory are writable by nobody but root.
mkdir -p "$T/bin"
chmod 700 "$T/bin"
RLOG=$T/resolvectl.log
cat > "$T/bin/resolvectl" <<EOF
#!/bin/sh
for a in "\$@"; do printf '%s|' "\$a"; done >> "$RLOG"
echo >> "$RLOG"
if [ "\$(cat "$T/resolvectl.mode" 2>/dev/null)" = fail ]; then
	echo "Failed to set DNS configuration: Could not activate remote peer 'org.freedesktop.resolve1'." >&2
	exit 1
fi
exit 0
EOF
chmod 755 "$T/bin/resolvectl"
echo ok > "$T/resolvectl.mode"
: > "$RLOG"
# rlog_from N: the fake's log from line N on
rlog_from() { tail -n +"$1" "$RLOG"; }
rlines() { wc -l < "$RLOG"; }
# applied_from N DOMAINLINE: a whole registration run (dns, the domain line,
# then default-route) is in the log from line N on; the next step's line
# count must not be taken while default-route is still to come.
applied_from() {
	rlog_from "$1" | grep -qxF "$2" &&
		[ "$(rlog_from "$1" | tail -n 1)" = "default-route|ngrokd0|false|" ]
}

# --- namespace, backend, ingress, API ---------------------------------------------
# What every process in the namespace sees: /etc/hosts without endpoint
# names (cloud_certs), and resolv.conf pointing at ngrokd's responder.
printf 'nameserver 10.107.0.2\noptions timeout:2 attempts:1\n' > "$T/resolv.conf"
NSX=(ip netns exec "$NS" unshare -m --propagation private
	sh -c 'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
	"$T/hosts" "$T/resolv.conf")
# ngrokd's server.hosts_file: content of its own, and no ngrokd block.
printf '127.0.0.1\tlocalhost\n# kept byte for byte\n::1 ip6-localhost\n' > "$NG_HOSTS"
cp "$NG_HOSTS" "$T/etc-hosts.orig"

cloud_netns || cloud_setup_failed "create namespace $NS" "ip netns add failed"
cloud_backend www 8080 "backend $$"
ROUTES=(--route alpha.test:80=127.0.0.1:8080 --route beta.test:80=127.0.0.1:8080
	--route gamma.test:80=127.0.0.1:8080)
EPS=([a]=http://alpha.test [b]=http://beta.test [g]=http://gamma.test
	[w]='http://*.apps.test')
cloud_eps a b w
ingress_start && api_start && cloud_backends_up ||
	cloud_setup_failed "API, ingress and backend start"

# --- ngrokd ------------------------------------------------------------------------
# write_config MANAGE_HOSTS [DNS-SECTION-EXTRA]
write_config() {
	SERVER_MORE="  manage_hosts: $1" cloud_config "$NG_CONFIG" "health:" \
		"  enabled: false" "dns:" "  enabled: true" ${2:+"$2"}
}
write_config false
# start_ngrokd: ngrokd with the fake resolvectl; stop_ngrokd [SIGNAL]: waits
# up to 30 s, sets NG_RC.
start_ngrokd() { ngrokd_start env NGROKD_RESOLVECTL="$T/bin/resolvectl"; }
stop_ngrokd() { ngrokd_stop 30 "${1:-TERM}"; }
st() { status_field "$1"; }
registered() { [ "$(st dns_registration)" = applied ]; }
has_line() { grep -qxF "$1" "$RLOG"; }
fingerprint() { stat -c '%i %Y %s' "$T/etc-hosts"; }

HOSTS_FP=$(fingerprint)
sleep 1	# a rewrite within the same second would keep the mtime
start_ngrokd
if wait_for 20 registered; then
	ok "at start: dns_registration is \"applied\" in ngrokctl status"
else
	notok "at start: dns_registration is \"applied\" in ngrokctl status" \
		"status: $(ctl status 2>&1 | grep dns); log: $(tail -5 "$NGERR")"
fi
want="dns|ngrokd0|10.107.0.2|
domain|ngrokd0|~alpha.test|~apps.test|~beta.test|
default-route|ngrokd0|false|"
if [ "$(cat "$RLOG")" = "$want" ]; then
	ok "the link ngrokd0 gets DNS 10.107.0.2, routing domains for each endpoint (the wildcard as apps.test), default-route false"
else
	notok "the link ngrokd0 gets DNS 10.107.0.2, routing domains for each endpoint (the wildcard as apps.test), default-route false" \
		"resolvectl runs: $(tr '\n' ' ' < "$RLOG")"
fi
doms=$(ctl --json status 2>/dev/null | json '",".join(j["dns_domains"])')
check "ngrokctl status lists the domains ($doms) and the backend" \
	eval '[ "$doms" = alpha.test,apps.test,beta.test ] && [ "$(st dns_registration_backend)" = systemd-resolved ]'
check "the registration is recorded in the state dir" \
	eval 'grep -q "\"interface\":\"ngrokd0\"" "$T/state/splitdns.json"'
check "ngrokd logs the registration" \
	grep -q 'splitdns: ngrokd0: alpha.test, apps.test, beta.test to 10.107.0.2 (systemd-resolved)' "$NGERR"

# Names resolve through the responder alone (no names in any hosts file).
check "dig @10.107.0.2 alpha.test answers the endpoint's address" \
	eval '[[ "$(nsx dig +short +time=2 +tries=1 @10.107.0.2 alpha.test)" =~ ^10\.107\.[0-9]+\.[0-9]+$ ]]'
check "curl http://alpha.test/ resolves through ngrokd's DNS (manage_hosts false) and reaches the backend" \
	test "$(get http://alpha.test/)" = "backend $$"
check "server.manage_hosts false: the hosts file is untouched (same bytes, inode, mtime)" \
	eval 'cmp -s "$T/etc-hosts" "$T/etc-hosts.orig" && [ "$(fingerprint)" = "$HOSTS_FP" ]'

# A new endpoint re-registers with its domain.
n=$(rlines)
cloud_eps a b w g
newdom() { applied_from $((n + 1)) 'domain|ngrokd0|~alpha.test|~apps.test|~beta.test|~gamma.test|'; }
if wait_for 10 newdom; then
	ok "an endpoint added at the API: the domains are applied again with gamma.test"
else
	notok "an endpoint added at the API: the domains are applied again with gamma.test" \
		"runs since: $(rlog_from $((n + 1)) | tr '\n' ' ')"
fi
check "curl http://gamma.test/ reaches the backend" test "$(get http://gamma.test/)" = "backend $$"
check "after the endpoint change the hosts file is still untouched" \
	eval 'cmp -s "$T/etc-hosts" "$T/etc-hosts.orig" && [ "$(fingerprint)" = "$HOSTS_FP" ]'

# SIGHUP: dns.domains replaces the derived set; dns.register false reverts.
n=$(rlines)
write_config false "  domains: [\"*.corp.example\", alpha.test]"
kill -HUP "$NG_PID"
hup1() { applied_from $((n + 1)) 'domain|ngrokd0|~alpha.test|~corp.example|'; }
check "SIGHUP with dns.domains: the configured domains are applied" wait_for 10 hup1
n=$(rlines)
write_config false "  register: false"
kill -HUP "$NG_PID"
hup2() { [ "$(rlog_from $((n + 1)))" = "revert|ngrokd0|" ]; }
check "SIGHUP with dns.register false: the link is reverted" wait_for 10 hup2
regoff() { [ "$(st dns_registration)" = "off (dns.register is false)" ]; }
check "ngrokctl status says registration is off" wait_for 5 regoff
n=$(rlines)
write_config false
kill -HUP "$NG_PID"
hup3() { applied_from $((n + 1)) 'domain|ngrokd0|~alpha.test|~apps.test|~beta.test|~gamma.test|'; }
check "SIGHUP back to the defaults: registered again from the endpoints" wait_for 10 hup3

# SIGTERM reverts and removes the record.
wait_for 5 registered
n=$(rlines)
stop_ngrokd TERM
check "SIGTERM: ngrokd exits 0" test "$NG_RC" = 0
check "SIGTERM: the link is reverted (resolvectl revert ngrokd0)" \
	test "$(rlog_from $((n + 1)))" = "revert|ngrokd0|"
check "SIGTERM: the record is removed" test ! -e "$T/state/splitdns.json"
check "SIGTERM: the hosts file is still untouched" \
	eval 'cmp -s "$T/etc-hosts" "$T/etc-hosts.orig" && [ "$(fingerprint)" = "$HOSTS_FP" ]'

# SIGKILL: the record stays; the next start cleans up.  The device went
# with the process, so resolved forgot its settings: nothing to revert.
start_ngrokd
wait_for 20 registered
stop_ngrokd KILL
check "SIGKILL: the record of the registration is left behind" test -s "$T/state/splitdns.json"
n=$(rlines)
start_ngrokd
wait_for 20 registered
check "restart after SIGKILL: the leftover registration is noticed and cleaned up" \
	eval 'grep -q "the previous run did not remove its DNS registration (systemd-resolved on ngrokd0" "$NGERR" && grep -q "ngrokd0 is gone, and systemd-resolved dropped its settings with it" "$NGERR"'
check "restart after SIGKILL: registered afresh (dns, domain, default-route; no stray revert)" \
	eval '[ "$(rlog_from $((n + 1)) | head -3 | cut -d"|" -f1 | tr "\n" " ")" = "dns domain default-route " ]'

# A crash whose link outlived the process (a persistent TUN device, or
# another interface name configured since): the record names it and it
# still exists, so it is reverted before the new registration.  The record
# is edited to name a persistent TUN device made for the purpose.
stop_ngrokd KILL
python3 - "$T/state/splitdns.json" <<'PY'
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["interface"] = "ngrokdold"
json.dump(j, open(p, "w"))
PY
ip -n "$NS" tuntap add dev ngrokdold mode tun
n=$(rlines)
start_ngrokd
wait_for 20 registered
check "restart after a crash that left its link: that link is reverted first" \
	eval '[ "$(rlog_from $((n + 1)) | head -2 | tr "\n" " ")" = "revert|ngrokdold| dns|ngrokd0|10.107.0.2| " ]'
ip -n "$NS" tuntap del dev ngrokdold mode tun 2>/dev/null

# manage_hosts false with a stale ngrokd block: removed once, the rest kept.
stop_ngrokd TERM
printf '# BEGIN ngrokd managed block\n10.107.0.3 alpha.test\n# END ngrokd managed block\n' >> "$T/etc-hosts"
start_ngrokd
wait_for 20 registered
unblocked() { cmp -s "$T/etc-hosts" "$T/etc-hosts.orig"; }
check "manage_hosts false: a stale ngrokd block is removed once, the rest byte for byte" wait_for 10 unblocked
fp=$(fingerprint)
cloud_eps a b w
sleep 2.5	# two polls
check "manage_hosts false: after that the file is not written again" test "$(fingerprint)" = "$fp"

# resolvectl failing: one clear line, status says so, the daemon serves on.
stop_ngrokd TERM
echo fail > "$T/resolvectl.mode"
start_ngrokd
failed() { [ "$(st dns_registration)" = failed ]; }
check "resolvectl failing: dns_registration is \"failed\"" wait_for 20 failed
err=$(st dns_registration_error)
check "resolvectl failing: status names the error ($err)" \
	eval 'grep -q "resolvectl dns ngrokd0: exit 1: Failed to set DNS configuration" <<<"$err"'
check "resolvectl failing: one warning line naming the manual steps" \
	eval '[ "$(grep -c "DNS registration (systemd-resolved) failed" "$NGERR")" = 1 ] && grep "DNS registration (systemd-resolved) failed" "$NGERR" | grep -q "by hand (docs/dns.md, \"Other setups\")"'
n=$(rlines)
cloud_eps a b w g
retried() { rlog_from $((n + 1)) | grep -q '^dns|ngrokd0|'; }
wait_for 10 retried
sleep 0.5
check "resolvectl failing: an endpoint change tries again without another warning" \
	eval 'retried && [ "$(grep -c "DNS registration (systemd-resolved) failed" "$NGERR")" = 1 ]'
check "resolvectl failing: ngrokd keeps serving (curl http://gamma.test/ through its DNS)" \
	test "$(get http://gamma.test/)" = "backend $$"
check "resolvectl failing: ngrokd is still running" kill -0 "$NG_PID"
stop_ngrokd TERM
check "resolvectl failing: SIGTERM still exits 0" test "$NG_RC" = 0
echo ok > "$T/resolvectl.mode"

# Configuration: manage_hosts false without the responder is refused.
write_config false
sed -i 's/^  enabled: true$/  enabled: false/' "$T/ngrokd.yml"
out=$("$NGROKD" --config "$T/ngrokd.yml" --check 2>&1); rc=$?
check "manage_hosts false without dns.enabled: refused with FILE:LINE:COL ($out)" \
	eval '[ $rc != 0 ] && grep -qF "$T/ngrokd.yml:9:17: server.manage_hosts: false needs dns.enabled: true" <<<"$out"'

check "no sanitizer report from ngrokd" ngrokd_clean
tap_done
exit 0
