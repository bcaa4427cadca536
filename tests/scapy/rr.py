"""Return routability (RFC 6275 §5.2.5, §6.2.7) computed with Python's hmac/hashlib,
straight from the RFC formulas, to check vany's rr module against.

stdin: {"check": [{"kcn", "home_nonce", "care_of_nonce": hex, "hoa", "coa": address,
                   "dereg": bool, "bu", "ba": hex of packets vany signed}],
        "sign":  [{"kcn", "home_nonce", "care_of_nonce": hex, "hoa", "coa", "cn": address,
                   "dereg": bool, "seed": int}]}
stdout: {"check": [{"home_token", "care_of_token", "kbm", "kbm_dereg",
                    "bu_auth", "ba_auth": hex} | {"error"}],
         "sign":  [{"bu", "ba": hex of packets scapy built and Python signed} | {"error"}]}

For a BU the care-of address in the authenticator is the Alternate Care-of Address
option if there is one, else the IPv6 source, and the correspondent is the IPv6
destination; for a BA the care-of address is the IPv6 destination and the
correspondent the IPv6 source (§6.1.7, §6.1.8, §6.2.5, §6.2.7).
"""

import hashlib
import hmac
import ipaddress
import random

import mip6_fields as m


def a16(a):
    return ipaddress.IPv6Address(a).packed


def first(bits, data):
    return data[: bits // 8]


def home_token(kcn, hoa, nonce):
    # home keygen token = First(64, HMAC_SHA1(Kcn, (home address | nonce | 0)))
    return first(64, hmac.new(kcn, a16(hoa) + nonce + b"\x00", hashlib.sha1).digest())


def care_of_token(kcn, coa, nonce):
    # care-of keygen token = First(64, HMAC_SHA1(Kcn, (care-of address | nonce | 1)))
    return first(64, hmac.new(kcn, a16(coa) + nonce + b"\x01", hashlib.sha1).digest())


def kbm(home, care_of):
    # Kbm = SHA1(home keygen token | care-of keygen token), or SHA1(home keygen token)
    # when deregistering.
    return hashlib.sha1(home + (care_of if care_of is not None else b"")).digest()


def mh_bytes(raw):
    """The Mobility Header of a packet, located by scapy's dissection."""
    _, p, mh = m.dissect(raw)
    mh_len = (mh.len + 1) * 8
    return p, mh, raw[len(raw) - mh_len:]


def authenticator(key, coa, cn, mh):
    # Authenticator = First(96, HMAC_SHA1(Kbm, (care-of address | correspondent | MH Data)))
    # MH Data: the MH with its checksum taken as zero, without the authenticator itself.
    if mh[-14] != 5 or mh[-13] != 12:
        raise m.Unexpected("the MH does not end with a 12-byte Binding Authorization Data")
    data = mh[:4] + b"\x00\x00" + mh[6:-12]
    return first(96, hmac.new(key, a16(coa) + a16(cn) + data, hashlib.sha1).digest())


def packet_authenticator(key, raw):
    p, mh, mhb = mh_bytes(raw)
    if isinstance(mh, m.MIP6MH_BU):
        acoa = [o.acoa for o in mh.options if isinstance(o, m.MIP6OptAltCoA)]
        coa = acoa[0] if acoa else p.src
        cn = p.dst
    elif isinstance(mh, m.MIP6MH_BA):
        coa, cn = p.dst, p.src
    else:
        raise m.Unexpected("not a BU or BA: %r" % mh)
    return authenticator(key, coa, cn, mhb)


def keys(case):
    kcn = bytes.fromhex(case["kcn"])
    home = home_token(kcn, case["hoa"], bytes.fromhex(case["home_nonce"]))
    care_of = care_of_token(kcn, case["coa"], bytes.fromhex(case["care_of_nonce"]))
    return home, care_of, kbm(home, care_of), kbm(home, None)


def check(case):
    home, care_of, k, k_dereg = keys(case)
    key = k_dereg if case["dereg"] else k
    return {
        "home_token": home.hex(),
        "care_of_token": care_of.hex(),
        "kbm": k.hex(),
        "kbm_dereg": k_dereg.hex(),
        "bu_auth": packet_authenticator(key, bytes.fromhex(case["bu"])).hex(),
        "ba_auth": packet_authenticator(key, bytes.fromhex(case["ba"])).hex(),
    }


def signed(fields, key):
    """Builds the packet with scapy, computes its authenticator, and rebuilds it with the
    authenticator in place (scapy recomputes the checksum)."""
    fields["mh"]["options"][-1]["data"] = "00" * 12
    auth = packet_authenticator(key, bytes(m.build(fields)))
    fields["mh"]["options"][-1]["data"] = auth.hex()
    raw = bytes(m.build(fields))
    if packet_authenticator(key, raw) != auth:
        raise m.Unexpected("authenticator changed when it was filled in")
    return raw


def sign(case):
    rng = random.Random(case["seed"])
    _, _, k, k_dereg = keys(case)
    key = k_dereg if case["dereg"] else k
    # A BU from the care-of address (or with it in an Alternate Care-of Address option)
    # with the home address in a HAO, to the correspondent.
    bu = m.rand_fields(rng, "BU")
    bu["rh2"] = None
    bu["hao"] = case["hoa"]
    bu["dst"] = case["cn"]
    opts = [o for o in bu["mh"]["options"] if o["kind"] not in ("auth_data", "alt_care_of")]
    if rng.random() < 0.5:
        opts.insert(rng.randrange(len(opts) + 1), {"kind": "alt_care_of", "address": case["coa"]})
    else:
        bu["src"] = case["coa"]
    bu["mh"]["options"] = opts + [{"kind": "auth_data", "data": ""}]
    # The BA back: from the correspondent to the care-of address, home address in RH2.
    ba = m.rand_fields(rng, "BA")
    ba["src"], ba["dst"], ba["rh2"], ba["hao"] = case["cn"], case["coa"], case["hoa"], None
    opts = [o for o in ba["mh"]["options"] if o["kind"] != "auth_data"]
    ba["mh"]["options"] = opts + [{"kind": "auth_data", "data": ""}]
    return {"bu": signed(bu, key).hex(), "ba": signed(ba, key).hex()}


def main():
    doc = m.read_input()
    m.write_output(
        {
            "check": [m.guarded(check, c) for c in doc.get("check", [])],
            "sign": [m.guarded(sign, c) for c in doc.get("sign", [])],
        }
    )


if __name__ == "__main__":
    main()
