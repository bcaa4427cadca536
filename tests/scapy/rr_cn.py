"""scapy as the correspondent node (RFC 6275 §5.2, §9.4, §9.5) for vany's MobileNode,
over the packet pipe of rr_pipe.py.

Requests:
  {"op": "init", "cn": address}
      -> {}
  {"op": "packet", "hex": whole IPv6 packet from vany}
      -> {"send": [hex of packets scapy sends back], "verdict": {...}}

The CN holds its own random Kcn (os.urandom) and its own nonces, a fresh one with the
next index for every HoTI and CoTI. It answers HoTI/CoTI with HoT/CoT whose tokens it
computes with hmac/hashlib. For a BU it recomputes Kbm from its own tokens and the
authenticator over the MH bytes as received (CoA = Alternate CoA or source, CN =
destination), verifies the MH checksum with its own pseudo-header sum (HAO address as
source) and with scapy's, and checks the sequence number against the last one it
accepted for the home address. It answers an authentic BU with a signed BA built with
scapy: IPv6(dst=CoA) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HoA]) / MIP6MH_BA,
status 0 (or 135 with the last accepted sequence number if the BU's is not newer). A BU
that fails a check gets no answer. Every check's outcome is in the verdict.
"""

import hmac
import os
import random

import mip6_fields as m
import rr_pipe as rp
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrRouting,
    MIP6MH_BA,
    MIP6MH_CoT,
    MIP6MH_HoT,
    MIP6OptBindingAuthData,
)

# MAX_RR_BINDING_LIFETIME (RFC 6275 §12): 420 s, in units of 4 s.
MAX_LIFETIME_UNITS = 105


def seq_newer(new, last):
    # RFC 6275 §9.5.1: modulo 2^16.
    return 0 < ((new - last) & 0xFFFF) < 0x8000


class Cn:
    def __init__(self):
        self.addr = None
        self.kcn = os.urandom(20)  # RFC 6275 §5.2.1
        self.nonces = {}
        self.next_index = random.SystemRandom().randrange(1 << 16)
        self.last_seq = {}  # home address -> last accepted sequence number

    def new_nonce(self):
        index = self.next_index
        self.next_index = (self.next_index + 1) & 0xFFFF
        self.nonces[index] = os.urandom(8)
        return index, self.nonces[index]

    def handle(self, req):
        op = req["op"]
        if op == "init":
            self.addr = m.addr(req["cn"])
            return {}
        if op == "packet":
            return self.packet(bytes.fromhex(req["hex"]))
        raise ValueError("unknown op %r" % op)

    def packet(self, raw):
        lay, fields, mh, v = rp.received(raw)
        if v["dst"] != self.addr:
            v["problems"].append("sent to %s, not to the CN %s" % (v["dst"], self.addr))
        kind = v["kind"]
        if kind in ("HoTI", "CoTI"):
            return self.test_init(v, fields, mh)
        if kind == "BU":
            return self.bu(raw, lay, fields, mh, v)
        v["problems"].append("a CN does not expect a %s" % kind)
        return {"send": [], "verdict": v}

    def test_init(self, v, fields, mh):
        # RFC 6275 §6.1.3, §6.1.4: from the address tested, no HAO, no RH2, no options.
        if v["hao"] is not None or v["rh2"] is not None:
            v["problems"].append("%s with a HAO or an RH2" % v["kind"])
        if fields["mh"]["options"]:
            v["problems"].append("%s with options" % v["kind"])
        if bytes(mh.reserved) != b"\x00\x00":
            v["problems"].append("reserved field not zero")
        if not v["checksum_ok"]:
            # §9.2: a bad checksum is dropped silently.
            return {"send": [], "verdict": v}
        index, nonce = self.new_nonce()
        peer = v["src"]
        cookie = bytes(mh.cookie)
        if v["kind"] == "HoTI":
            token = rp.home_token(self.kcn, peer, nonce)
            reply = IPv6(src=self.addr, dst=peer) / MIP6MH_HoT(
                index=index, cookie=cookie, token=token
            )
        else:
            token = rp.care_of_token(self.kcn, peer, nonce)
            reply = IPv6(src=self.addr, dst=peer) / MIP6MH_CoT(
                index=index, cookie=cookie, token=token
            )
        v.update(
            {"cookie": cookie.hex(), "nonce_index": index, "token": token.hex(), "address": peer}
        )
        return {"send": [bytes(reply).hex()], "verdict": v}

    def bu(self, raw, lay, fields, mh, v):
        bu = fields["mh"]
        opts = bu["options"]
        kinds = [o["kind"] for o in opts]
        v.update(
            {
                "seq": bu["seq"],
                "lifetime": bu["lifetime"],
                "ack": bu["ack"],
                "home_flag": bu["home"],
                "options": kinds,
                "status": None,
            }
        )
        # RFC 6275 §9.5.1: the home address is in the HAO (the source when at home).
        hoa = v["hao"] or v["src"]
        acoa = [o["address"] for o in opts if o["kind"] == "alt_care_of"]
        coa = acoa[0] if acoa else v["src"]
        dereg = bu["lifetime"] == 0 or coa == hoa
        v.update({"hoa": hoa, "coa": coa, "dereg": dereg})
        if v["rh2"] is not None:
            v["problems"].append("BU with an RH2")
        if bu["home"]:
            v["problems"].append("BU with the H flag at a correspondent")
        if kinds.count("nonce_indices") != 1 or kinds[-1:] != ["auth_data"]:
            v["problems"].append("BU options %s: want one Nonce Indices and Binding "
                                 "Authorization Data last (§6.2.7)" % kinds)
            return {"send": [], "verdict": v}
        ni = [o for o in opts if o["kind"] == "nonce_indices"][0]
        v["nonce_indices"] = [ni["home"], ni["care_of"]]
        if not (v["checksum_ok"] and v["scapy_checksum_ok"]):
            return {"send": [], "verdict": v}  # §9.2: dropped
        home_nonce = self.nonces.get(ni["home"])
        care_of_nonce = None if dereg else self.nonces.get(ni["care_of"])
        if home_nonce is None or (care_of_nonce is None and not dereg):
            # §9.5.1: 136/137/138, unsigned (there is no Kbm).
            status = 138 if home_nonce is None and care_of_nonce is None and not dereg \
                else 136 if home_nonce is None else 137
            v["status"] = status
            return {"send": [self.ba(hoa, coa, status, bu["seq"], 0, None).hex()],
                    "verdict": v}
        home = rp.home_token(self.kcn, hoa, home_nonce)
        care_of = None if dereg else rp.care_of_token(self.kcn, coa, care_of_nonce)
        key = rp.kbm(home, care_of)
        v.update(
            {
                "home_token": home.hex(),
                "care_of_token": care_of.hex() if care_of is not None else None,
                "kbm": key.hex(),
            }
        )
        received_auth = lay.upper[-12:]
        if received_auth.hex() != opts[-1]["data"]:
            v["problems"].append("scapy and the byte walk disagree on the authenticator")
        # The CN's own address is the destination; the MAC's care-of address is the
        # Alternate CoA or the source. For a deregistration RFC 6275 §5.2.6 has the home
        # address in that place, which some implementations follow: note which verified.
        v["auth_ok"] = False
        v["auth_coa"] = None
        candidates = [coa] + ([hoa] if dereg and coa != hoa else [])
        for c in candidates:
            if hmac.compare_digest(rp.authenticator(key, c, self.addr, lay.upper),
                                   received_auth):
                v["auth_ok"], v["auth_coa"] = True, c
                break
        if not v["auth_ok"]:
            return {"send": [], "verdict": v}  # §9.5.1: silently discarded
        last = self.last_seq.get(hoa)
        if last is not None and not seq_newer(bu["seq"], last):
            # §9.5.1: 135 carries the last accepted sequence number.
            v["status"], v["ba_seq"], v["granted"] = 135, last, 0
            return {"send": [self.ba(hoa, coa, 135, last, 0, key).hex()], "verdict": v}
        self.last_seq[hoa] = bu["seq"]
        granted = 0 if dereg else min(bu["lifetime"], MAX_LIFETIME_UNITS)
        v["status"], v["ba_seq"], v["granted"] = 0, bu["seq"], granted
        send = []
        if bu["ack"]:
            send.append(self.ba(hoa, coa, 0, bu["seq"], granted, key).hex())
        return {"send": send, "verdict": v}

    def ba(self, hoa, coa, status, seq, lifetime, key):
        """A BA to the care-of address with the home address in an RH2 (§9.5.4), signed
        with Kbm when there is one: care-of address = destination, correspondent =
        source (§6.1.8)."""

        def build(auth):
            p = IPv6(src=self.addr, dst=coa)
            if coa != hoa:
                p = p / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[hoa])
            opts = []
            if key is not None:
                opts = [MIP6OptBindingAuthData(olen=12, authenticator=auth)]
            return p / MIP6MH_BA(status=status, flags=0, res2=0, seq=seq, mhtime=lifetime,
                                 options=opts)

        if key is None:
            return bytes(build(0))
        return rp.signed(build, key, coa, self.addr)


if __name__ == "__main__":
    rp.serve(Cn().handle)
