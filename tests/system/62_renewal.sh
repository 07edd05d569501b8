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
NS=ngrokdtest-$$-rn
T=$(mktemp -d /tmp/ngrokdtest-62.XXXXXX)
at_exit "rm -rf '$T'"
KEY=test-key-$$-renew
certs_make "$T/c" ingress.test 2>/dev/null || { notok "test certificates"; tap_done; exit 0; }
C=$T/c
printf '127.0.0.1\tlocalhost\n127.0.0.1\tingress.test\n' > "$T/hosts"
printf '127.0.0.1\tlocalhost\n' > "$T/etc-hosts"
netns_new "$NS" || { notok "namespace"; tap_done; exit 0; }
NSX=(ip netns exec "$NS" unshare -m --propagation private
	sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts")

mkdir -p "$T/www"
head -c 60000000 /dev/urandom > "$T/www/big.bin"
want=$(sha256sum < "$T/www/big.bin")
bg "${NSX[@]}" python3 -m http.server --bind 127.0.0.1 --directory "$T/www" 8080 \
	>"$T/http.log" 2>&1 </dev/null
bg "${NSX[@]}" "$OUT/tests/fake/ingress" --listen 127.0.0.1:4443 --cert "$C/ingress.pem" \
	--key "$C/ingress.key" --client-ca "$C/client-ca.pem" \
	--route renew.test:80=127.0.0.1:8080 >"$T/ingress.out" 2>&1 </dev/null
echo '[{"id":"ep_r","uri":"/x","url":"http://renew.test","proto":"http","hostname":"renew.test"}]' > "$T/eps.json"
bg "${NSX[@]}" python3 tests/fake/api.py --port 8000 --key "$KEY" --endpoints "$T/eps.json" \
	--ca-cert "$C/client-ca.pem" --ca-key "$C/client-ca.key" --cert-days 3 \
	--ingress ingress.test:4443 >"$T/api.out" 2>"$T/api.err" </dev/null
wait_for 10 grep -q listening "$T/api.out" && wait_for 5 grep -q '^listening' "$T/ingress.out" ||
	{ notok "API and ingress start"; tap_done; exit 0; }

cat > "$T/ngrokd.yml" <<YAML
api:
  url: http://127.0.0.1:8000
ingressEndpoint: ingress.test:4443
server:
  socket_path: $T/run/ngrokd.sock
  state_dir: $T/state
  hosts_file: $T/etc-hosts
bound_endpoints:
  poll_interval: 1s
net:
  mode: tun
tls:
  ca_file: $C/ca.pem
health:
  enabled: false
YAML
bg env NGROK_API_KEY="$KEY" "${NSX[@]}" "$OUT/ngrokd" --config "$T/ngrokd.yml" \
	--foreground >"$T/ngrokd.out" 2>"$T/ngrokd.err" </dev/null
NG=$BG_PID
check "ngrokd provisions and lists the endpoint" wait_for 20 grep -q "renew.test" "$T/etc-hosts"
ADDR=$(awk '/renew.test/ {print $1}' "$T/etc-hosts")
check "the tunnel starts with the first certificate" wait_for 10 grep -q "tunnel: ingress" "$T/ngrokd.err"
cert0=$(sha256sum < "$T/state/tls.crt" 2>/dev/null)
reloads0=$(grep -c "client certificate reloaded" "$T/ngrokd.err")

# A download slow enough to span several renewals (60 MB at 12 MB/s).
ip netns exec "$NS" curl -s --limit-rate 12M -o "$T/got.bin" "http://$ADDR/big.bin" &
CURL=$!
_pids="$_pids $CURL"
sleep 1
check "the certificate is renewed while the stream is up" \
	wait_for 10 sh -c "test \$(grep -c 'client certificate reloaded' '$T/ngrokd.err') -gt $reloads0"
check "the certificate file changed" sh -c "test \"\$(sha256sum < '$T/state/tls.crt')\" != '$cert0'"
wait $CURL
rc=$?
check "the download that spanned the renewals finished (curl exit 0)" test $rc -eq 0
check "and arrived intact (sha256)" test "$(sha256sum < "$T/got.bin")" = "$want"
n=$(( $(grep -c "client certificate reloaded" "$T/ngrokd.err") - reloads0 ))
check "renewed at least twice during the download ($n)" test "$n" -ge 2
check "a new connection after the renewals works" ip netns exec "$NS" curl -sf -o /dev/null "http://$ADDR/"
kill -TERM $NG
wait $NG
check "SIGTERM exits 0" test $? -eq 0
tap_done
