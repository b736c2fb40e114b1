"""A tlog-witness client written from the C2SP specs alone (tlog-witness, tlog-checkpoint,
signed-note, tlog-cosignature) and RFC 6962, sharing no code with edgeproof: it builds a log,
signs checkpoints, computes consistency proofs, submits them to the witness and verifies the
cosignatures it gets back. Exit 0 when every step answered as the specs say.

usage: tlog_witness_client.py URL LOG_KEY_PEM ORIGIN WITNESS_VKEY
"""

import base64
import hashlib
import http.client
import sys
import urllib.parse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding, PublicFormat, load_pem_private_key)

EM_DASH = "\u2014"


def sha256(b):
    return hashlib.sha256(b).digest()


# RFC 6962 section 2.1
def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    if len(leaves) == 0:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


# RFC 6962 section 2.1.2: PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
def subproof(m, leaves, b):
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = split(n)
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def proof(m, leaves):
    if m == 0 or m == len(leaves):
        return []
    return subproof(m, leaves, True)


b64 = lambda b: base64.b64encode(b).decode()


class Log:
    def __init__(self, origin, key):
        self.origin = origin
        self.key = key
        self.pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.leaves = [leaf_hash(b"interop leaf %d" % i) for i in range(64)]

    def text(self, size):
        # tlog-checkpoint: origin, size, base64 root, each line ending in a newline.
        return "%s\n%d\n%s\n" % (self.origin, size, b64(mth(self.leaves[:size])))

    def note(self, size):
        # signed-note: key ID = SHA-256(name || 0x0A || 0x01 || key)[:4], Ed25519 over the text.
        text = self.text(size)
        key_id = sha256(self.origin.encode() + b"\n\x01" + self.pub)[:4]
        sig = self.key.sign(text.encode())
        return text + "\n" + "%s %s %s\n" % (EM_DASH, self.origin, b64(key_id + sig))

    def body(self, old, size, corrupt=False):
        # tlog-witness: "old N", proof lines, an empty line, the checkpoint.
        lines = [b64(h) for h in proof(old, self.leaves[:size])]
        if corrupt:
            lines[0] = b64(bytes(32))
        return ("old %d\n" % old + "".join(l + "\n" for l in lines) + "\n" + self.note(size)).encode()


def parse_vkey(vkey):
    name, key_id, material = vkey.strip().split("+", 2)
    material = base64.b64decode(material)
    assert material[0] == 0x04, "witness vkey type %#x is not 0x04" % material[0]
    pub = material[1:]
    want = sha256(name.encode() + b"\n\x04" + pub)[:4]
    assert bytes.fromhex(key_id) == want, "vkey key ID does not match its key"
    return name, want, Ed25519PublicKey.from_public_bytes(pub)


def verify_cosignature(body, text, witness):
    name, key_id, pub = witness
    lines = body.split("\n")
    assert body.endswith("\n") and len(lines) >= 2, "response is not newline-terminated lines: %r" % body
    found = 0
    for line in lines[:-1]:
        dash, line_name, blob = line.split(" ")
        assert dash == EM_DASH, "signature line does not start with an em dash: %r" % line
        blob = base64.b64decode(blob)
        if line_name != name or blob[:4] != key_id:
            continue  # "The client MUST ignore any cosignatures from unknown keys."
        assert len(blob) == 4 + 8 + 64, "Ed25519 cosignature blob has %d bytes" % len(blob)
        ts = int.from_bytes(blob[4:12], "big")
        assert ts < 2**63
        msg = b"cosignature/v1\ntime %d\n" % ts + text.encode()
        pub.verify(blob[12:], msg)  # raises InvalidSignature
        found += 1
    assert found == 1, "expected one cosignature from %s, found %d" % (name, found)


def main():
    url, key_pem, origin, vkey = sys.argv[1:5]
    with open(key_pem, "rb") as f:
        key = load_pem_private_key(f.read(), password=None)
    log = Log(origin, key)
    witness = parse_vkey(vkey)
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)  # one keep-alive connection

    def post(body):
        conn.request("POST", u.path.rstrip("/") + "/add-checkpoint", body=body)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()

    def expect(step, got, status):
        assert got[0] == status, "%s: status %d, expected %d: %r" % (step, got[0], status, got)
        print("%s: %d" % (step, status))

    got = post(log.body(0, 5))
    expect("first checkpoint", got, 200)
    verify_cosignature(got[2], log.text(5), witness)
    got = post(log.body(5, 13))
    expect("consistent growth", got, 200)
    verify_cosignature(got[2], log.text(13), witness)
    got = post(log.body(5, 8))
    expect("stale old size", got, 409)
    assert got[1] == "text/x.tlog.size" and got[2] == "13\n", got
    got = post(log.body(13, 21, corrupt=True))
    expect("bad proof", got, 422)
    got = post(log.body(13, 21))
    expect("growth after refusals", got, 200)
    verify_cosignature(got[2], log.text(21), witness)
    print("ok")


if __name__ == "__main__":
    main()
