# tests/lib/certs.sh: test certificates made at run time with the openssl
# CLI (no private key is ever committed).  Source it from a bash script.
#
#   certs_make DIR [DNSNAME...]    (default name: ingress.test)
#
# writes into DIR (keys 0600):
#   ca.pem ca.key                  the ingress's CA (P-256): give ca.pem to
#                                  the client as its trust anchor
#   ingress.pem ingress.key        the ingress server certificate (P-256),
#                                  SAN = the DNS names, signed by ca
#   client-ca.pem client-ca.key    the CA the ingress trusts for clients (P-384)
#   client.pem client.key          a client certificate (P-384, like the one
#                                  ngrok issues for the operator's CSR)
#   untrusted-ca.pem untrusted-ca.key
#   untrusted.pem untrusted.key    a client certificate from a CA the ingress
#                                  does not trust
# Returns non-zero (with openssl's message on stderr) when a step fails.

# _certs_key FILE CURVE
_certs_key() {
	(umask 077 && openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$2" \
		-pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null) ||
		{ echo "certs: cannot make key $1" >&2; return 1; }
}

# _certs_ca DIR NAME CURVE SUBJECT
_certs_ca() {
	_certs_key "$1/$2.key" "$3" || return 1
	openssl req -x509 -new -key "$1/$2.key" -subj "$4" -days 30 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$1/$2.pem" 2>"$1/.err" ||
		{ cat "$1/.err" >&2; echo "certs: cannot make CA $2" >&2; return 1; }
}

# _certs_leaf DIR NAME CURVE SUBJECT CA EXTENSIONS
_certs_leaf() {
	_certs_key "$1/$2.key" "$3" || return 1
	openssl req -new -key "$1/$2.key" -subj "$4" -out "$1/$2.csr" 2>"$1/.err" &&
	printf '%s\n' "$6" > "$1/$2.ext" &&
	openssl x509 -req -in "$1/$2.csr" -CA "$1/$5.pem" -CAkey "$1/$5.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 30 -sha256 \
		-extfile "$1/$2.ext" -out "$1/$2.pem" 2>"$1/.err" ||
		{ cat "$1/.err" >&2; echo "certs: cannot make $2" >&2; return 1; }
	rm -f "$1/$2.csr" "$1/$2.ext"
}

certs_make() {
	local dir=$1 san="" n client_ext
	shift
	[ $# -eq 0 ] && set -- ingress.test
	for n in "$@"; do
		san="${san:+$san,}DNS:$n"
	done
	mkdir -p "$dir" || return 1
	client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

	_certs_ca "$dir" ca prime256v1 "/O=ngrokd tests/CN=ingress CA" &&
	_certs_leaf "$dir" ingress prime256v1 "/CN=$1" ca "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san" &&
	_certs_ca "$dir" client-ca secp384r1 "/O=ngrokd tests/CN=client CA" &&
	_certs_leaf "$dir" client secp384r1 "/O=ngrokd tests/CN=operator" \
		client-ca "$client_ext" &&
	_certs_ca "$dir" untrusted-ca secp384r1 "/O=somebody else/CN=untrusted CA" &&
	_certs_leaf "$dir" untrusted secp384r1 "/O=somebody else/CN=operator" \
		untrusted-ca "$client_ext" || return 1
	rm -f "$dir/.err"
}
