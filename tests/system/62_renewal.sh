#!/bin/bash
# Certificate renewal with a stream up: the fake API issues certificates
# valid for 3 days, so ngrokd (which renews a week before not_after) sends a
# new CSR (PATCH) at every poll.  A slow download started before the first
# renewal must finish intact, the tunnel must reload the new certificate,
# and new connections must use it.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/certs.sh
. tests/lib/cloud.sh

cloud_init 62 rn "renewal tests"
cloud_require curl python3 openssl unshare
cloud_certs || cloud_setup_failed "test certificates made"
printf '127.0.0.1\tlocalhost\n' > "$T/etc-hosts"
cloud_netns || cloud_setup_failed "create namespace $NS" "ip netns add failed"

mkdir -p "$T/www"
head -c 60000000 /dev/urandom > "$T/www/big.bin"
want=$(sha256sum < "$T/www/big.bin")
cloud_backend www 8080
ROUTES=(--route renew.test:80=127.0.0.1:8080)
EPS=([r]=http://renew.test)
cloud_eps r
ingress_start && api_start --cert-days 3 && cloud_backends_up ||
	cloud_setup_failed "API and ingress start"

cloud_config "$NG_CONFIG" "health:" "  enabled: false"
ngrokd_start
check "ngrokd provisions and lists the endpoint" wait_for 20 grep -q "renew.test" "$T/etc-hosts"
ADDR=$(awk '/renew.test/ {print $1}' "$T/etc-hosts")
check "the tunnel starts with the first certificate" wait_for 10 grep -q "tunnel: ingress" "$NGERR"
cert0=$(sha256sum < "$T/state/tls.crt" 2>/dev/null)
reloads0=$(grep -c "client certificate reloaded" "$NGERR")

# A download slow enough to span several renewals (60 MB at 12 MB/s).
ip netns exec "$NS" curl -s --limit-rate 12M -o "$T/got.bin" "http://$ADDR/big.bin" &
CURL=$!
_pids="$_pids $CURL"
sleep 1
check "the certificate is renewed while the stream is up" \
	wait_for 10 sh -c "test \$(grep -c 'client certificate reloaded' '$NGERR') -gt $reloads0"
check "the certificate file changed" sh -c "test \"\$(sha256sum < '$T/state/tls.crt')\" != '$cert0'"
wait $CURL
rc=$?
check "the download that spanned the renewals finished (curl exit 0)" test $rc -eq 0
check "and arrived intact (sha256)" test "$(sha256sum < "$T/got.bin")" = "$want"
n=$(( $(grep -c "client certificate reloaded" "$NGERR") - reloads0 ))
check "renewed at least twice during the download ($n)" test "$n" -ge 2
check "a new connection after the renewals works" ip netns exec "$NS" curl -sf -o /dev/null "http://$ADDR/"
ngrokd_stop
check "SIGTERM exits 0" test "$NG_RC" = 0
tap_done
