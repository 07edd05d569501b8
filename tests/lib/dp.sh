# tests/lib/dp.sh: the opening of the tests that run the data path harness
# (tests/fake/dp_harness: no discovery, no ngrokd) beside the fake ingress
# in a private network namespace.  Source it after tests/lib/tap.sh and
# tests/lib/certs.sh.  A test goes:
#
#   dp_init dns          B, T, NS; certificates in $T/pki; removed at exit
#   dp_ingress           the fake ingress in $NS on 127.0.0.1:$IP
#   ip netns exec $NS $B/tests/fake/dp_harness --ingress 127.0.0.1:$IP ... &
#
# Background jobs use ip netns exec directly, not in_ns: a backgrounded
# function runs in a subshell, $! would be that subshell's pid and the
# clean-up would kill it and leave the program running.

# dp_init NS-SUFFIX: B (the build), T (a temporary directory), the namespace
# NS, the test certificates in $T/pki for ingress.test; ends the test if the
# certificates cannot be made.
dp_init() {
	B=$OUT
	T=$(mktemp -d)
	at_exit "rm -rf $T"
	NS=ngrokdtest-$$-$1
	netns_new $NS
	certs_make $T/pki ingress.test >/dev/null || { notok "test certificates"; tap_done; exit 0; }
}

# in_ns CMD...: CMD in the namespace.
in_ns() { ip netns exec $NS "$@"; }

# dp_ingress: the fake ingress on an ephemeral port of 127.0.0.1 in the
# namespace, trusting the test client CA; sets IP (its port).
dp_ingress() {
	bg ip netns exec $NS $B/tests/fake/ingress --listen 127.0.0.1:0 --cert $T/pki/ingress.pem \
		--key $T/pki/ingress.key --client-ca $T/pki/client-ca.pem > $T/ing.out 2>&1
	wait_for 5 grep -q listening $T/ing.out
	IP=$(awk '{print $2}' $T/ing.out)
}
