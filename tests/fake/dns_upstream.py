#!/usr/bin/env python3
"""A tiny upstream DNS server for tests (dns.upstream), UDP only.

    dns_upstream.py --listen IP:PORT --log FILE

Prints "listening" once bound.  Every query appends "QNAME SRCPORT ID" to
FILE.  Answers by name (case-insensitive):
    example.com      A 192.0.2.7
    big.example      100 A records, 192.0.2.1 .. 192.0.2.100 (1,700 bytes)
    silent.example   nothing (the forwarder must time out)
    wrongq.example   a reply to another question (must be ignored)
    spoof.example    first a reply with the wrong id, then the right one:
                     A 192.0.2.8
    anything else    NXDOMAIN
"""
import argparse
import socket
import struct
import sys


def question(msg):
    """(name text, the question's wire bytes) of a query, or None."""
    o = 12
    labels = []
    while o < len(msg):
        n = msg[o]
        if n == 0:
            o += 1
            break
        if n & 0xC0:
            return None
        labels.append(msg[o + 1:o + 1 + n].decode("ascii", "replace"))
        o += 1 + n
    else:
        return None
    if o + 4 > len(msg):
        return None
    return ".".join(labels).lower(), msg[12:o + 4]


def reply(qid, qwire, rcode, addrs):
    hdr = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(addrs), 0, 0)
    rrs = b"".join(struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) +
                   socket.inet_aton(a) for a in addrs)
    return hdr + qwire + rrs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    print("listening", flush=True)
    while True:
        msg, peer = s.recvfrom(4096)
        if len(msg) < 12:
            continue
        qid = struct.unpack(">H", msg[:2])[0]
        q = question(msg)
        if q is None:
            continue
        name, qwire = q
        with open(a.log, "a") as f:
            f.write("%s %d %d\n" % (name, peer[1], qid))
        if name == "example.com":
            s.sendto(reply(qid, qwire, 0, ["192.0.2.7"]), peer)
        elif name == "big.example":
            s.sendto(reply(qid, qwire, 0,
                           ["192.0.2.%d" % i for i in range(1, 101)]), peer)
        elif name == "silent.example":
            pass
        elif name == "wrongq.example":
            other = b"\x05other\x07example\x00" + qwire[-4:]
            s.sendto(reply(qid, other, 0, ["192.0.2.66"]), peer)
        elif name == "spoof.example":
            s.sendto(reply(qid ^ 0x5555, qwire, 0, ["192.0.2.66"]), peer)
            s.sendto(reply(qid, qwire, 0, ["192.0.2.8"]), peer)
        else:
            s.sendto(reply(qid, qwire, 3, []), peer)


if __name__ == "__main__":
    sys.exit(main())
