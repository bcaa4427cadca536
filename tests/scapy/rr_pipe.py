"""The Python side of vany_tests::pipe, and what rr_cn.py and rr_mn.py share.

A packet pipe: one JSON request per line on stdin, one JSON reply per line on stdout,
until EOF (then exit 0). A request that raises gets {"error": traceback}; the Rust side
fails the test with it. Bounded: at most MAX_MESSAGES requests, and SIGALRM ends the
process DEADLINE_S seconds after it started whatever happens.

Packets travel as hex strings of whole IPv6 packets. Besides scapy's dissection, every
packet received is walked here byte by byte (Layout), so that the Mobility Header
checksum is verified by code that shares nothing with scapy or vany: the pseudo-header
takes the Home Address option's address as source and the Type 2 Routing Header's
address as destination (RFC 6275 §6.1.1, §6.3, §6.4).
"""

import hashlib
import hmac
import ipaddress
import json
import signal
import struct
import sys
import traceback

import mip6_fields as m

MAX_MESSAGES = 10000
DEADLINE_S = 300

MH_PROTO = 135
ROUTING = 43
DEST_OPTS = 60
HAO_TYPE = 0xC9


def serve(handler):
    """Answers requests until EOF. handler(request dict) -> reply dict."""
    signal.alarm(DEADLINE_S)  # default action: terminate
    count = 0
    while True:
        line = sys.stdin.readline()
        if not line:
            return  # EOF: the test is done (or gone)
        line = line.strip()
        if not line:
            continue
        count += 1
        if count > MAX_MESSAGES:
            m.write_output({"error": "more than %d requests" % MAX_MESSAGES})
            return
        try:
            reply = handler(json.loads(line))
            json.dumps(reply)  # fail here, as a reported error, if it cannot travel
        except Exception:  # noqa: BLE001 - reported to the test, which fails with it
            reply = {"error": traceback.format_exc()}
        m.write_output(reply)


def a16(a):
    return ipaddress.IPv6Address(a).packed


def text(b):
    return m.addr(bytes(b))


def ones_complement_sum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


class Layout:
    """An `IPv6 | [RH2] | [DestOpt] | upper` packet walked byte by byte."""

    def __init__(self, raw):
        self.problems = []
        if len(raw) < 40 or raw[0] >> 4 != 6:
            raise m.Unexpected("not an IPv6 packet")
        plen = struct.unpack("!H", raw[4:6])[0]
        if 40 + plen != len(raw):
            raise m.Unexpected("payload length %d for %d bytes" % (plen, len(raw)))
        self.src, self.dst = raw[8:24], raw[24:40]
        self.rh2 = None
        self.hao = None
        nh, off = raw[6], 40
        while nh in (ROUTING, DEST_OPTS):
            hdr_len = (raw[off + 1] + 1) * 8
            if nh == ROUTING:
                # RFC 6275 §6.4: hdrlen 2, type 2, segments left 1, one address.
                if (raw[off + 1], raw[off + 2], raw[off + 3]) != (2, 2, 1):
                    self.problems.append("RH2 is not hdrlen 2, type 2, segleft 1")
                self.rh2 = raw[off + 8:off + 24]
            else:
                i = off + 2
                while i < off + hdr_len:
                    t = raw[i]
                    if t == 0:  # Pad1
                        i += 1
                        continue
                    olen = raw[i + 1]
                    if t == HAO_TYPE:
                        # RFC 6275 §6.3: length 16, alignment 8n+6.
                        if olen != 16:
                            self.problems.append("HAO length %d" % olen)
                        if (i - off) % 8 != 6:
                            self.problems.append("HAO at offset %d, not 8n+6" % (i - off))
                        self.hao = raw[i + 2:i + 18]
                    elif t != 1:
                        self.problems.append("unexpected destination option %d" % t)
                    i += 2 + olen
            nh = raw[off]
            off += hdr_len
        self.proto = nh
        self.upper = raw[off:]

    def pseudo_src(self):
        return self.hao if self.hao is not None else self.src

    def pseudo_dst(self):
        return self.rh2 if self.rh2 is not None else self.dst

    def checksum_ok(self):
        """The upper-layer checksum over the home-address pseudo-header (RFC 8200 §8.1)."""
        pseudo = (
            self.pseudo_src()
            + self.pseudo_dst()
            + struct.pack("!I", len(self.upper))
            + b"\x00\x00\x00"
            + bytes([self.proto])
        )
        return ones_complement_sum(pseudo + self.upper) == 0xFFFF


def received(raw):
    """Walks and dissects a received MH packet. Returns (layout, fields, scapy MH layer,
    verdict) where the verdict already holds the checks common to every message."""
    lay = Layout(raw)
    fields, p, mh = m.dissect(raw)
    verdict = {
        "kind": fields["mh"]["type"],
        "problems": list(lay.problems),
        "src": text(lay.src),
        "dst": text(lay.dst),
        "rh2": text(lay.rh2) if lay.rh2 is not None else None,
        "hao": text(lay.hao) if lay.hao is not None else None,
        "checksum_ok": lay.proto == MH_PROTO and lay.checksum_ok(),
        "scapy_checksum_ok": m.recompute_checksum(raw, p, mh) == mh.cksum,
    }
    if fields["rh2"] != verdict["rh2"] or fields["hao"] != verdict["hao"]:
        verdict["problems"].append("scapy and the byte walk disagree on RH2/HAO")
    return lay, fields, mh, verdict


# ------------------------------------------------- return routability (RFC 6275 §5.2.5)


def first(bits, data):
    return data[: bits // 8]


def home_token(kcn, hoa, nonce):
    # home keygen token = First(64, HMAC_SHA1(Kcn, (home address | nonce | 0)))
    return first(64, hmac.new(kcn, a16(hoa) + nonce + b"\x00", hashlib.sha1).digest())


def care_of_token(kcn, coa, nonce):
    # care-of keygen token = First(64, HMAC_SHA1(Kcn, (care-of address | nonce | 1)))
    return first(64, hmac.new(kcn, a16(coa) + nonce + b"\x01", hashlib.sha1).digest())


def kbm(home, care_of):
    # Kbm = SHA1(home keygen token | care-of keygen token); SHA1(home keygen token) when
    # deregistering (care_of None).
    return hashlib.sha1(home + (care_of if care_of is not None else b"")).digest()


def authenticator(key, coa, cn, mh):
    """First(96, HMAC_SHA1(Kbm, care-of address | correspondent | MH Data)), MH Data being
    the MH with its checksum zeroed, without the final 12 authenticator bytes (§6.2.7)."""
    if len(mh) < 14 or mh[-14] != 5 or mh[-13] != 12:
        raise m.Unexpected("the MH does not end with a 12-byte Binding Authorization Data")
    data = mh[:4] + b"\x00\x00" + mh[6:-12]
    return first(96, hmac.new(key, a16(coa) + a16(cn) + data, hashlib.sha1).digest())


def signed(build, key, coa, cn):
    """build(authenticator int) -> a fresh scapy packet whose MH ends with Binding
    Authorization Data. Builds it with a zero authenticator, computes the authenticator
    over those bytes, and builds it again, fresh, with the authenticator in place (scapy
    computes the checksum). Returns the raw bytes."""
    mh_of = lambda raw: Layout(raw).upper  # noqa: E731
    auth = authenticator(key, coa, cn, mh_of(bytes(build(0))))
    raw = bytes(build(int.from_bytes(auth, "big")))
    if authenticator(key, coa, cn, mh_of(raw)) != auth or mh_of(raw)[-12:] != auth:
        raise m.Unexpected("the authenticator changed when it was filled in")
    lay = Layout(raw)
    if not lay.checksum_ok():
        raise m.Unexpected("scapy built a packet whose checksum does not verify")
    return raw
