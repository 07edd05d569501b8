#!/usr/bin/env python3
"""A fake ngrok API for tests: kubernetes_operators and bound_endpoints.

    api.py --key KEY --endpoints FILE --ca-cert CA.pem --ca-key CA.key
           [--port N] [--page-size N] [--ingress host:port]
           [--cert-days N] [--state FILE] [--fault SPEC] [--verbose]

Prints "listening PORT" once it accepts connections.  Endpoints come from
FILE (a JSON list of bound endpoint objects), re-read on every request, so a
test may rewrite it while the daemon runs.  Every request must carry
"Authorization: Bearer KEY" and "Ngrok-Version: 2" (401 otherwise).

Faults (--fault at start, or POST /_control/fault with {"fault": SPEC,
"count": N} at run time; count -1 = until changed; SPEC "none" clears):
    401 404 429 500         that HTTP status (404: bound_endpoints only)
    ngrok-error             400 with an ERR_NGROK_19002 body
    slow                    sleeps 5 s before answering
    garbage                 200 with a body that is not JSON
    truncated               200 with half a JSON body
GET /_control/stats returns request counts and the operators (no auth).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class State:
    def __init__(self, args):
        self.args = args
        self.operators = {}  # id -> object
        self.next_id = 1
        self.fault = args.fault or "none"
        self.fault_count = -1
        self.requests = {}
        if args.state and os.path.exists(args.state):
            with open(args.state) as f:
                saved = json.load(f)
            self.operators = saved["operators"]
            self.next_id = saved["next_id"]

    def save(self):
        if self.args.state:
            tmp = self.args.state + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"operators": self.operators, "next_id": self.next_id}, f)
            os.replace(tmp, self.args.state)

    def take_fault(self):
        with LOCK:
            f = self.fault
            if f == "none":
                return None
            if self.fault_count > 0:
                self.fault_count -= 1
                if self.fault_count == 0:
                    self.fault = "none"
            return f


def sign_csr(args, csr_pem):
    with tempfile.TemporaryDirectory() as d:
        csr = os.path.join(d, "req.csr")
        crt = os.path.join(d, "out.crt")
        with open(csr, "w") as f:
            f.write(csr_pem)
        cmd = ["openssl", "x509", "-req", "-in", csr, "-CA", args.ca_cert,
               "-CAkey", args.ca_key, "-set_serial", str(int(time.time() * 1000)),
               "-out", crt]
        # --cert-days under 7 makes ngrokd renew at every poll (it renews
        # a week before notAfter): the renewal test uses that.
        cmd += ["-days", str(args.cert_days)]
        r = subprocess.run(cmd, capture_output=True)
        if r.returncode != 0:
            return None
        with open(crt) as f:
            return f.read()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-ngrok-api"

    def log_message(self, fmt, *a):
        if self.server.st.args.verbose:
            sys.stderr.write("api.py: " + fmt % a + "\n")

    def reply(self, status, obj=None, raw=None):
        body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, msg):
        self.reply(status, {"error_code": code, "status_code": status, "msg": msg,
                            "details": {}})

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 1 << 20:
            return None
        try:
            return json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return None

    def base(self):
        return "http://%s" % self.headers.get("Host", "127.0.0.1")

    def authorized(self):
        st = self.server.st
        if self.headers.get("Authorization") != "Bearer " + st.args.key:
            self.error(401, "ERR_NGROK_401", "invalid API key")
            return False
        if self.headers.get("Ngrok-Version") != "2":
            self.error(401, "ERR_NGROK_218", "missing Ngrok-Version: 2")
            return False
        return True

    def count(self, what):
        with LOCK:
            self.server.st.requests[what] = self.server.st.requests.get(what, 0) + 1

    def apply_fault(self, endpoint_listing):
        f = self.server.st.take_fault()
        if f is None:
            return False
        if f == "slow":
            time.sleep(5)
            return False
        if f == "garbage":
            self.reply(200, raw=b"<html>surprise</html>")
        elif f == "truncated":
            self.reply(200, raw=b'{"endpoints":[{"id":"ep_x","url":"http://')
        elif f == "ngrok-error":
            self.error(400, "ERR_NGROK_19002", "Bindings are not enabled for this account.")
        elif f == "404" and not endpoint_listing:
            return False
        elif f.isdigit():
            self.error(int(f), "ERR_NGROK_%s" % f, "injected %s" % f)
        else:
            return False
        return True

    # --- routes -----------------------------------------------------------
    def route(self, method):
        st = self.server.st
        u = urllib.parse.urlsplit(self.path)
        parts = [p for p in u.path.split("/") if p]
        q = urllib.parse.parse_qs(u.query)
        if parts[:1] == ["_control"]:
            return self.control(method, parts[1:])
        self.count(method + " " + "/".join(p if not p.startswith("k8sop_") else "{id}" for p in parts))
        if not self.authorized():
            return
        if parts[:1] != ["kubernetes_operators"]:
            return self.error(404, "ERR_NGROK_404", "no route")
        listing = len(parts) == 3 and parts[2] == "bound_endpoints"
        if self.apply_fault(listing):
            return
        if len(parts) == 1 and method == "GET":
            return self.list_operators(q)
        if len(parts) == 1 and method == "POST":
            return self.create(self.body_json())
        with LOCK:
            op = st.operators.get(parts[1]) if len(parts) > 1 else None
        if op is None:
            return self.error(404, "ERR_NGROK_404", "operator not found")
        if listing and method == "GET":
            return self.bound_endpoints(parts[1], q)
        if len(parts) == 2 and method == "GET":
            return self.reply(200, op)
        if len(parts) == 2 and method == "PATCH":
            return self.patch(op, self.body_json())
        if len(parts) == 2 and method == "DELETE":
            with LOCK:
                del st.operators[parts[1]]
                st.save()
            return self.reply(204)
        return self.error(405, "ERR_NGROK_405", "method not allowed")

    def operator_binding(self, csr):
        cert = sign_csr(self.server.st.args, csr) if csr else None
        return {"endpoint_selectors": ["true"],
                "cert": {"cert": cert or "", "not_before": "", "not_after": ""},
                "ingress_endpoint": self.server.st.args.ingress}

    def create(self, body):
        st = self.server.st
        if not isinstance(body, dict) or not isinstance(body.get("binding"), dict) \
                or not isinstance(body["binding"].get("csr"), str):
            return self.error(400, "ERR_NGROK_400", "binding.csr is required")
        if body.get("enabled_features") != ["bindings"]:
            return self.error(400, "ERR_NGROK_400", "enabled_features must be [bindings]")
        binding = self.operator_binding(body["binding"]["csr"])
        if not binding["cert"]["cert"]:
            return self.error(400, "ERR_NGROK_400", "bad csr")
        binding["endpoint_selectors"] = body["binding"].get("endpoint_selectors", ["true"])
        with LOCK:
            oid = "k8sop_%04d" % st.next_id
            st.next_id += 1
            op = {"id": oid, "uri": self.base() + "/kubernetes_operators/" + oid,
                  "description": body.get("description", ""),
                  "metadata": body.get("metadata", ""),
                  "enabled_features": body["enabled_features"],
                  "region": body.get("region", "global"), "binding": binding}
            st.operators[oid] = op
            st.save()
        self.reply(201, op)

    def patch(self, op, body):
        st = self.server.st
        if isinstance(body, dict) and isinstance(body.get("binding"), dict) \
                and body["binding"].get("csr"):
            binding = self.operator_binding(body["binding"]["csr"])
            if not binding["cert"]["cert"]:
                return self.error(400, "ERR_NGROK_400", "bad csr")
            with LOCK:
                op["binding"]["cert"] = binding["cert"]
                st.save()
        self.reply(200, op)

    def paged(self, items, q, key):
        size = self.server.st.args.page_size
        start = int(q.get("offset", ["0"])[0])
        page = items[start:start + size]
        nxt = None
        if start + size < len(items):
            nxt = "%s%s?offset=%d" % (self.base(), urllib.parse.urlsplit(self.path).path,
                                      start + size)
        return {key: page, "uri": self.base() + self.path, "next_page_uri": nxt}

    def list_operators(self, q):
        with LOCK:
            ops = list(self.server.st.operators.values())
        self.reply(200, self.paged(ops, q, "operators"))

    def bound_endpoints(self, oid, q):
        try:
            with open(self.server.st.args.endpoints) as f:
                eps = json.load(f)
        except (OSError, ValueError):
            eps = []
        self.reply(200, self.paged(eps, q, "endpoints"))

    def control(self, method, parts):
        st = self.server.st
        if parts == ["fault"] and method == "POST":
            body = self.body_json() or {}
            with LOCK:
                st.fault = body.get("fault", "none")
                st.fault_count = int(body.get("count", -1))
            return self.reply(200, {"fault": st.fault})
        if parts == ["stats"]:
            with LOCK:
                return self.reply(200, {"requests": st.requests,
                                        "operators": list(st.operators.values())})
        self.reply(404, {})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PATCH(self):
        self.route("PATCH")

    def do_DELETE(self):
        self.route("DELETE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", required=True)
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--ca-cert", required=True)
    ap.add_argument("--ca-key", required=True)
    ap.add_argument("--page-size", type=int, default=2)
    ap.add_argument("--ingress", default="127.0.0.1:4443")
    ap.add_argument("--cert-days", type=int, default=30)
    ap.add_argument("--state")
    ap.add_argument("--fault")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.st = State(args)
    print("listening %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
