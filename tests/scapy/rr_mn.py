"""scapy as the mobile node (RFC 6275 §11.6, §11.7) against vany's CorrespondentNode,
over the packet pipe of rr_pipe.py.

Requests (each reply is {"send": [hex of packets to give vany], "verdict": {...}}):
  {"op": "init", "hoa", "coa", "cn": address, "seed": int}
  {"op": "start"}           HoTI from the home address and CoTI from the care-of address
  {"op": "packet", "hex"}   a packet from vany: HoT, CoT, BA or BE, checked here
  {"op": "bu", "seq", "lifetime": int, "forge": bool}
                            a BU signed with Kbm from the tokens received, built with
                            scapy: IPv6(src=CoA, dst=CN) / IPv6ExtHdrDestOpt(HAO(HoA)) /
                            MIP6MH_BU(flags="A", Nonce Indices, Binding Authorization
                            Data); "forge" flips one authenticator bit (the checksum is
                            still right), and the BU is then not remembered for "replay"
  {"op": "replay"}          the last genuine BU again, byte for byte
  {"op": "data", "hoa", "proto": "icmp" | "udp"}
                            an ICMPv6 Echo Request or a UDP datagram from the care-of
                            address with a HAO carrying "hoa"
  {"op": "unknown_mh", "mh_type": int, "hao": bool}
                            a Mobility Header of an unknown type (MIP6MH_Generic) from
                            the care-of address, with a HAO of the home address if "hao"
"""

import hmac
import random

import mip6_fields as m
import rr_pipe as rp
from scapy.layers.inet6 import (
    HAO,
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    MIP6MH_BU,
    MIP6MH_CoTI,
    MIP6MH_Generic,
    MIP6MH_HoTI,
    MIP6OptBindingAuthData,
    MIP6OptNonceIndices,
)
from scapy.layers.inet import UDP
from scapy.packet import Raw


class Mn:
    def __init__(self):
        self.rng = None
        self.hoa = self.coa = self.cn = None
        self.cookies = {}
        self.tokens = {}  # "home"/"care_of" -> (nonce index, token)
        self.pending = None  # (seq, Kbm) of the last BU sent
        self.last_bu = None

    def handle(self, req):
        op = req["op"]
        if op == "init":
            self.hoa, self.coa, self.cn = (m.addr(req[k]) for k in ("hoa", "coa", "cn"))
            self.rng = random.Random(req["seed"])
            return {}
        if op == "start":
            return self.start()
        if op == "packet":
            return self.packet(bytes.fromhex(req["hex"]))
        if op == "bu":
            return self.bu(req["seq"], req["lifetime"], req.get("forge", False))
        if op == "replay":
            return {"send": [self.last_bu.hex()], "verdict": {"kind": "replay"}}
        if op == "data":
            return self.data(m.addr(req["hoa"]), req["proto"])
        if op == "unknown_mh":
            return self.unknown_mh(req["mh_type"], req["hao"])
        raise ValueError("unknown op %r" % op)

    def start(self):
        self.cookies = {"HoT": m.rand_bytes(self.rng, 8), "CoT": m.rand_bytes(self.rng, 8)}
        hoti = IPv6(src=self.hoa, dst=self.cn) / MIP6MH_HoTI(cookie=self.cookies["HoT"])
        coti = IPv6(src=self.coa, dst=self.cn) / MIP6MH_CoTI(cookie=self.cookies["CoT"])
        return {
            "send": [bytes(hoti).hex(), bytes(coti).hex()],
            "verdict": {"kind": "start", "cookies": {k: c.hex() for k, c in self.cookies.items()}},
        }

    def packet(self, raw):
        lay, fields, mh, v = rp.received(raw)
        if v["src"] != self.cn:
            v["problems"].append("from %s, not from the CN %s" % (v["src"], self.cn))
        if v["hao"] is not None:
            v["problems"].append("a HAO in a packet from the CN")
        kind = v["kind"]
        if kind in ("HoT", "CoT"):
            want_dst = self.hoa if kind == "HoT" else self.coa
            if v["dst"] != want_dst or v["rh2"] is not None:
                v["problems"].append("%s sent to %s (RH2 %s)" % (kind, v["dst"], v["rh2"]))
            cookie_ok = bytes(mh.cookie) == self.cookies.get(kind)
            v.update(
                {
                    "cookie_ok": cookie_ok,
                    "nonce_index": mh.index,
                    "token": bytes(mh.token).hex(),
                    "options": fields["mh"]["options"],
                }
            )
            # RFC 6275 §11.6.2: only a HoT/CoT with the right cookie and checksum counts.
            if cookie_ok and v["checksum_ok"]:
                name = "home" if kind == "HoT" else "care_of"
                self.tokens[name] = (mh.index, bytes(mh.token))
            return {"send": [], "verdict": v}
        if kind == "BA":
            return self.ba(lay, fields, v)
        if kind == "BE":
            v.update({"status": fields["mh"]["status"], "ha": fields["mh"]["home_address"],
                      "options": fields["mh"]["options"]})
            if v["rh2"] is not None:
                v["problems"].append("BE with an RH2")
            return {"send": [], "verdict": v}
        v["problems"].append("an MN does not expect a %s here" % kind)
        return {"send": [], "verdict": v}

    def ba(self, lay, fields, v):
        ba = fields["mh"]
        kinds = [o["kind"] for o in ba["options"]]
        v.update({"status": ba["status"], "seq": ba["seq"], "lifetime": ba["lifetime"],
                  "key_mgmt": ba["key_mgmt"], "options": kinds, "auth_ok": None})
        # RFC 6275 §6.1.8, §9.5.4: to the care-of address, home address in an RH2.
        if v["dst"] != self.coa or v["rh2"] != self.hoa:
            v["problems"].append("BA to %s with RH2 %s" % (v["dst"], v["rh2"]))
        if kinds[-1:] == ["auth_data"]:
            if self.pending is None:
                v["problems"].append("a signed BA, but no BU was sent")
            else:
                # The BA's MAC: care-of address = destination, correspondent = source.
                key = self.pending[1]
                want = rp.authenticator(key, v["dst"], v["src"], lay.upper)
                v["auth_ok"] = hmac.compare_digest(want, lay.upper[-12:])
        elif "auth_data" in kinds:
            v["problems"].append("Binding Authorization Data is not the last option")
        return {"send": [], "verdict": v}

    def kbm(self):
        home = self.tokens["home"]
        care_of = self.tokens["care_of"]
        return home, care_of, rp.kbm(home[1], care_of[1])

    def bu(self, seq, lifetime, forge):
        home, care_of, key = self.kbm()

        def build(auth):
            return (
                IPv6(src=self.coa, dst=self.cn)
                / IPv6ExtHdrDestOpt(options=[HAO(hoa=self.hoa)])
                / MIP6MH_BU(
                    flags="A",
                    seq=seq,
                    mhtime=lifetime,
                    options=[
                        MIP6OptNonceIndices(olen=4, hni=home[0], coni=care_of[0]),
                        MIP6OptBindingAuthData(olen=12, authenticator=auth),
                    ],
                )
            )

        # The BU's MAC: care-of address = source (no Alternate CoA), correspondent =
        # destination (§6.1.7, §6.2.7).
        raw = rp.signed(build, key, self.coa, self.cn)
        verdict = {"kind": "BU", "seq": seq, "kbm": key.hex(), "authenticator": raw[-12:].hex(),
                   "nonce_indices": [home[0], care_of[0]]}
        if forge:
            # One authenticator bit flipped; scapy computes the checksum for it.
            auth = int.from_bytes(raw[-12:], "big") ^ 1
            raw = bytes(build(auth))
            lay = rp.Layout(raw)
            verdict.update({"authenticator": raw[-12:].hex(), "checksum_ok": lay.checksum_ok()})
        else:
            self.pending = (seq, key)
            self.last_bu = raw
        return {"send": [raw.hex()], "verdict": verdict}

    def data(self, hoa, proto):
        p = IPv6(src=self.coa, dst=self.cn) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)])
        if proto == "icmp":
            p = p / ICMPv6EchoRequest(id=self.rng.randrange(1 << 16), seq=1, data=b"vany rr")
        elif proto == "udp":
            p = p / UDP(sport=self.rng.randrange(1024, 1 << 16), dport=7) / Raw(b"vany rr")
        else:
            raise ValueError(proto)
        raw = bytes(p)
        lay = rp.Layout(raw)
        return {"send": [raw.hex()],
                "verdict": {"kind": "data", "checksum_ok": lay.checksum_ok(),
                            "problems": lay.problems}}

    def unknown_mh(self, mh_type, with_hao):
        p = IPv6(src=self.coa, dst=self.cn)
        if with_hao:
            p = p / IPv6ExtHdrDestOpt(options=[HAO(hoa=self.hoa)])
        p = p / MIP6MH_Generic(mhtype=mh_type, res=0, msg=m.rand_bytes(self.rng, 10))
        raw = bytes(p)
        lay = rp.Layout(raw)
        return {"send": [raw.hex()],
                "verdict": {"kind": "unknown_mh", "checksum_ok": lay.checksum_ok(),
                            "problems": lay.problems}}


if __name__ == "__main__":
    rp.serve(Mn().handle)
