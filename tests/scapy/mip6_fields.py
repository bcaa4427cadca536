"""Shared helpers for vany's scapy interop tests (run with /usr/bin/python3 -B).

Every script reads one JSON document on stdin and writes one JSON document on stdout.
A packet's fields travel as a dict that the Rust side (vany_tests::mip6) mirrors:

    {"src", "dst": address, "tc", "fl", "hlim": int,
     "rh2", "hao": address or null,
     "mh": {"type": "BU", ...type-specific fields...,
            "options": [{"kind": "nonce_indices", "home": int, "care_of": int}, ...]}}

Padding (Pad1/PadN) never appears in "options": scapy's autopad adds it when building
and the dissector drops it.
"""

import ipaddress
import json
import sys
import traceback

# Scapy may print warnings; keep stdout for our one JSON document.
_STDOUT = sys.stdout
sys.stdout = sys.stderr

try:
    from scapy.layers.inet6 import (
        HAO,
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrRouting,
        MIP6MH_BA,
        MIP6MH_BE,
        MIP6MH_BRR,
        MIP6MH_BU,
        MIP6MH_CoT,
        MIP6MH_CoTI,
        MIP6MH_HoT,
        MIP6MH_HoTI,
        MIP6OptAltCoA,
        MIP6OptBindingAuthData,
        MIP6OptBRAdvice,
        MIP6OptNonceIndices,
        MIP6OptUnknown,
        Pad1,
        PadN,
        in6_chksum,
        _MobilityHeader,
    )
    from scapy.packet import Raw, Padding
except ImportError as e:  # pragma: no cover - environment problem
    sys.stderr.write(
        "scapy is missing (%s): run `apt-get install python3-scapy` "
        "(the tests use Debian's /usr/bin/python3 with python3-scapy 2.5)\n" % e
    )
    sys.exit(3)

MH_TYPES = ["BRR", "HoTI", "CoTI", "HoT", "CoT", "BU", "BA", "BE"]
MH_CLASSES = {
    "BRR": MIP6MH_BRR,
    "HoTI": MIP6MH_HoTI,
    "CoTI": MIP6MH_CoTI,
    "HoT": MIP6MH_HoT,
    "CoT": MIP6MH_CoT,
    "BU": MIP6MH_BU,
    "BA": MIP6MH_BA,
    "BE": MIP6MH_BE,
}

# Scapy's MIP6MH_BU "flags" is the 7-bit field "PRMKLHA": P is bit 0, A bit 6 (the
# most significant bit of the 16-bit word on the wire). The 9 bits after it are
# "reserved". vany's BindingUpdate has A, H, L, K and 12 "reserved" bits (M, R, P and
# scapy's 9 reserved bits).
BU_A, BU_H, BU_L, BU_K = 0x40, 0x20, 0x10, 0x08
# MIP6MH_BA "flags" is the 3-bit field "PRK" (K most significant), then 5 bits "res2".
BA_K = 0x4


def read_input():
    return json.load(sys.stdin)


def write_output(doc):
    json.dump(doc, _STDOUT, separators=(",", ":"))
    _STDOUT.write("\n")
    _STDOUT.flush()


def addr(a):
    """Canonical text form of an IPv6 address."""
    return ipaddress.IPv6Address(a).compressed


def guarded(fn, *args):
    """Runs fn(*args); turns an exception into {"error": traceback} for the Rust side."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - reported to the test, which fails with it
        return {"error": traceback.format_exc()}


# ---------------------------------------------------------------- random fields


def rand_addr(rng):
    """A random address in fd00::/8."""
    if rng.random() < 0.1:
        # Small, zero-heavy addresses exercise "::" compression on both sides.
        return addr("fd00::%x" % rng.randrange(1, 1 << 16))
    return addr(bytes([0xFD]) + rng.getrandbits(120).to_bytes(15, "big"))


def rand_bytes(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "big")


def rand_option(rng, kinds):
    kind = rng.choice(kinds)
    if kind == "refresh_advice":
        return {"kind": kind, "interval": rng.randrange(1 << 16)}
    if kind == "alt_care_of":
        return {"kind": kind, "address": rand_addr(rng)}
    if kind == "nonce_indices":
        return {"kind": kind, "home": rng.randrange(1 << 16), "care_of": rng.randrange(1 << 16)}
    if kind == "unknown":
        # Types 17..255: scapy has no class of its own for them (6..16 are other RFCs').
        return {
            "kind": kind,
            "type": rng.randrange(17, 256),
            "data": rand_bytes(rng, rng.randrange(0, 13)).hex(),
        }
    raise ValueError(kind)


def rand_options(rng, mh_type):
    """Random options for a message: BU gets Nonce Indices / Alternate CoA, BA gets
    Binding Refresh Advice, each maybe followed by Binding Authorization Data; the other
    types now and then carry a few options too (vany and scapy both allow it on the wire)
    so that padding is exercised from every fixed-part length."""
    opts = []
    if mh_type in ("BU", "BA"):
        if rng.random() < 0.2:
            return []
        base = ["nonce_indices", "alt_care_of"] if mh_type == "BU" else ["refresh_advice"]
        for kind in base:
            if rng.random() < 0.6:
                opts.append(rand_option(rng, [kind]))
        if rng.random() < 0.15:
            opts.append(rand_option(rng, ["unknown"]))
        rng.shuffle(opts)
        if rng.random() < 0.6:
            opts.append({"kind": "auth_data", "data": rand_bytes(rng, 12).hex()})
    elif rng.random() < 0.25:
        kinds = ["refresh_advice", "alt_care_of", "nonce_indices", "unknown"]
        for _ in range(rng.randrange(1, 4)):
            opts.append(rand_option(rng, kinds))
    return opts


def rand_mh(rng, mh_type):
    mh = {"type": mh_type}
    if mh_type in ("HoTI", "CoTI"):
        mh["cookie"] = rand_bytes(rng, 8).hex()
    elif mh_type in ("HoT", "CoT"):
        mh["nonce_index"] = rng.randrange(1 << 16)
        mh["cookie"] = rand_bytes(rng, 8).hex()
        mh["token"] = rand_bytes(rng, 8).hex()
    elif mh_type == "BU":
        mh["seq"] = rng.randrange(1 << 16)
        mh["ack"] = rng.random() < 0.5
        mh["home"] = rng.random() < 0.5
        mh["link_local"] = rng.random() < 0.5
        mh["key_mgmt"] = rng.random() < 0.5
        mh["reserved"] = 0
        mh["lifetime"] = rng.randrange(1 << 16)
    elif mh_type == "BA":
        mh["status"] = rng.choice([0, 1, 128, 135, 136, 137, 138, rng.randrange(256)])
        mh["key_mgmt"] = rng.random() < 0.5
        mh["reserved"] = 0
        mh["seq"] = rng.randrange(1 << 16)
        mh["lifetime"] = rng.randrange(1 << 16)
    elif mh_type == "BE":
        mh["status"] = rng.choice([1, 2, rng.randrange(256)])
        mh["home_address"] = rand_addr(rng)
    mh["options"] = rand_options(rng, mh_type)
    return mh


def rand_fields(rng, mh_type):
    return {
        "src": rand_addr(rng),
        "dst": rand_addr(rng),
        "tc": rng.randrange(256),
        "fl": rng.randrange(1 << 20),
        "hlim": rng.randrange(256),
        "rh2": rand_addr(rng) if rng.random() < 0.5 else None,
        "hao": rand_addr(rng) if rng.random() < 0.5 else None,
        "mh": rand_mh(rng, mh_type),
    }


# ---------------------------------------------------------------- fields -> scapy


def build_option(o):
    kind = o["kind"]
    if kind == "refresh_advice":
        return MIP6OptBRAdvice(rinter=o["interval"])
    if kind == "alt_care_of":
        return MIP6OptAltCoA(acoa=o["address"])
    if kind == "nonce_indices":
        # scapy's default olen for this option is wrong (16); RFC 6275 §6.2.6 says 4.
        return MIP6OptNonceIndices(olen=4, hni=o["home"], coni=o["care_of"])
    if kind == "auth_data":
        # scapy's default olen is wrong (16); with return routability it is 12 (§6.2.7).
        return MIP6OptBindingAuthData(olen=12, authenticator=int(o["data"], 16))
    if kind == "unknown":
        return MIP6OptUnknown(otype=o["type"], odata=bytes.fromhex(o["data"]))
    raise ValueError(kind)


def build_mh(mh):
    t = mh["type"]
    opts = [build_option(o) for o in mh["options"]]
    if t == "BRR":
        return MIP6MH_BRR(options=opts)
    if t in ("HoTI", "CoTI"):
        return MH_CLASSES[t](cookie=bytes.fromhex(mh["cookie"]), options=opts)
    if t in ("HoT", "CoT"):
        return MH_CLASSES[t](
            index=mh["nonce_index"],
            cookie=bytes.fromhex(mh["cookie"]),
            token=bytes.fromhex(mh["token"]),
            options=opts,
        )
    if t == "BU":
        flags = (
            (BU_A if mh["ack"] else 0)
            | (BU_H if mh["home"] else 0)
            | (BU_L if mh["link_local"] else 0)
            | (BU_K if mh["key_mgmt"] else 0)
            | (mh["reserved"] >> 9)
        )
        return MIP6MH_BU(
            seq=mh["seq"],
            flags=flags,
            reserved=mh["reserved"] & 0x1FF,
            mhtime=mh["lifetime"],
            options=opts,
        )
    if t == "BA":
        return MIP6MH_BA(
            status=mh["status"],
            flags=(BA_K if mh["key_mgmt"] else 0) | (mh["reserved"] >> 5),
            res2=mh["reserved"] & 0x1F,
            seq=mh["seq"],
            mhtime=mh["lifetime"],
            options=opts,
        )
    if t == "BE":
        return MIP6MH_BE(status=mh["status"], ha=mh["home_address"], options=opts)
    raise ValueError(t)


def build(f):
    """A fresh scapy packet from fields: IPv6 / [RH2] / [DestOpt(HAO)] / MH."""
    p = IPv6(src=f["src"], dst=f["dst"], tc=f["tc"], fl=f["fl"], hlim=f["hlim"])
    if f.get("rh2") is not None:
        p = p / IPv6ExtHdrRouting(type=2, addresses=[f["rh2"]], segleft=1)
    if f.get("hao") is not None:
        p = p / IPv6ExtHdrDestOpt(options=[HAO(hoa=f["hao"])])
    return p / build_mh(f["mh"])


# ---------------------------------------------------------------- scapy -> fields


class Unexpected(Exception):
    pass


def dissect_option(o):
    if isinstance(o, (Pad1, PadN)):
        return None
    if isinstance(o, MIP6OptBRAdvice):
        return {"kind": "refresh_advice", "interval": o.rinter, "_olen": o.olen}
    if isinstance(o, MIP6OptAltCoA):
        return {"kind": "alt_care_of", "address": addr(o.acoa), "_olen": o.olen}
    if isinstance(o, MIP6OptNonceIndices):
        return {"kind": "nonce_indices", "home": o.hni, "care_of": o.coni, "_olen": o.olen}
    if isinstance(o, MIP6OptBindingAuthData):
        return {
            "kind": "auth_data",
            "data": o.authenticator.to_bytes(12, "big").hex(),
            "_olen": o.olen,
        }
    if type(o) is MIP6OptUnknown:
        return {"kind": "unknown", "type": o.otype, "data": bytes(o.odata).hex()}
    raise Unexpected("unexpected mobility option %r" % o)


def dissect_mh(m):
    t = MH_TYPES[m.mhtype] if m.mhtype < len(MH_TYPES) else None
    if t is None or not isinstance(m, MH_CLASSES[t]):
        raise Unexpected("scapy dissected MH type %d as %s" % (m.mhtype, type(m).__name__))
    mh = {"type": t}
    if t in ("HoTI", "CoTI"):
        mh["cookie"] = bytes(m.cookie).hex()
    elif t in ("HoT", "CoT"):
        mh["nonce_index"] = m.index
        mh["cookie"] = bytes(m.cookie).hex()
        mh["token"] = bytes(m.token).hex()
    elif t == "BU":
        flags = int(m.flags)
        mh["seq"] = m.seq
        mh["ack"] = bool(flags & BU_A)
        mh["home"] = bool(flags & BU_H)
        mh["link_local"] = bool(flags & BU_L)
        mh["key_mgmt"] = bool(flags & BU_K)
        mh["reserved"] = ((flags & 0x7) << 9) | m.reserved
        mh["lifetime"] = m.mhtime
    elif t == "BA":
        flags = int(m.flags)
        mh["status"] = m.status
        mh["key_mgmt"] = bool(flags & BA_K)
        mh["reserved"] = ((flags & 0x3) << 5) | m.res2
        mh["seq"] = m.seq
        mh["lifetime"] = m.mhtime
    elif t == "BE":
        mh["status"] = m.status
        mh["home_address"] = addr(m.ha)
    opts = []
    for o in m.options:
        d = dissect_option(o)
        if d is not None:
            olen = d.pop("_olen", None)
            want = {"refresh_advice": 2, "alt_care_of": 16, "nonce_indices": 4, "auth_data": 12}
            if olen is not None and olen != want[d["kind"]]:
                raise Unexpected("option %s has olen %d" % (d["kind"], olen))
            opts.append(d)
    mh["options"] = opts
    mh["_proto"] = m.nh
    return mh


def dissect(raw):
    """Dissects raw bytes with scapy; returns (fields, scapy packet, MH layer)."""
    p = IPv6(raw)
    f = {
        "src": addr(p.src),
        "dst": addr(p.dst),
        "tc": p.tc,
        "fl": p.fl,
        "hlim": p.hlim,
        "rh2": None,
        "hao": None,
    }
    if p.plen != len(raw) - 40:
        raise Unexpected("plen %d for %d bytes" % (p.plen, len(raw)))
    cur = p.payload
    if isinstance(cur, IPv6ExtHdrRouting):
        if cur.type != 2 or cur.len != 2 or cur.segleft != 1 or len(cur.addresses) != 1:
            raise Unexpected("bad RH2: %r" % cur)
        f["rh2"] = addr(cur.addresses[0])
        cur = cur.payload
    if isinstance(cur, IPv6ExtHdrDestOpt):
        haos = [o for o in cur.options if isinstance(o, HAO)]
        others = [o for o in cur.options if not isinstance(o, (HAO, Pad1, PadN))]
        if len(haos) != 1 or others or haos[0].optlen != 16:
            raise Unexpected("bad destination options: %r" % cur)
        f["hao"] = addr(haos[0].hoa)
        cur = cur.payload
    if not isinstance(cur, _MobilityHeader):
        raise Unexpected("no mobility header where expected: %r" % cur)
    if cur.payload is not None and len(bytes(cur.payload)) != 0:
        raise Unexpected("bytes left after the mobility header: %r" % cur.payload)
    if p.haslayer(Raw) or p.haslayer(Padding):
        raise Unexpected("scapy left undissected bytes: %r" % p)
    mh = dissect_mh(cur)
    if mh.pop("_proto") != 59:
        raise Unexpected("MH payload proto is not 59")
    f["mh"] = mh
    return f, p, cur


def recompute_checksum(raw, p, mh_layer):
    """scapy's in6_chksum over the dissected packet's MH bytes with the checksum zeroed.

    scapy's in6_pseudoheader only takes the HAO into account when it is the *only*
    option of the Destination Options header, which a dissected header never is (its
    PadN comes first). So drop the padding from the dissected header first; the
    options list then looks like the one scapy builds itself."""
    dest = p.getlayer(IPv6ExtHdrDestOpt)
    if dest is not None:
        dest.options = [o for o in dest.options if isinstance(o, HAO)]
    mh_len = (mh_layer.len + 1) * 8
    raw_mh = bytearray(raw[len(raw) - mh_len:])
    raw_mh[4:6] = b"\x00\x00"
    return in6_chksum(135, mh_layer, bytes(raw_mh))
