"""Malformed packets built with scapy, each breaking one RFC 6275 rule, for vany to
refuse (or, for a bad checksum, to flag).

stdin:  {} (nothing needed)
stdout: {"cases": [{"name": str, "hex": str} | {"name": str, "error": str}, ...]}

The names are the contract with tests/tests/scapy_interop.rs, which knows which
vany error each must produce.
"""

import mip6_fields as m
from scapy.layers.inet6 import MIP6MH_Generic

SRC, DST, HOA, COA = "fd00::1", "fd00::2", "fd00::a", "fd00::c"


def ip():
    return m.IPv6(src=SRC, dst=DST)


def bu(options, **kw):
    return m.MIP6MH_BU(seq=1, flags=m.BU_A, mhtime=10, options=options, **kw)


CASES = {
    # scapy's own defaults: Nonce Indices and Binding Authorization Data with olen 16.
    "nonce_indices_default_olen": lambda: ip() / bu([m.MIP6OptNonceIndices(hni=1, coni=2)]),
    "auth_data_default_olen": lambda: ip() / bu([m.MIP6OptBindingAuthData(authenticator=7)]),
    # Nonce Indices at an odd offset: autopad off, Pad1 first (12 + 1 + 6 + 5 = 24).
    "nonce_indices_misaligned": lambda: ip()
    / bu(
        [m.Pad1(), m.MIP6OptNonceIndices(olen=4, hni=1, coni=2), m.PadN(optdata=b"\x00" * 3)],
        autopad=0,
    ),
    # Alternate CoA at 8n+4 instead of 8n+6 (12 + 18 + 10 = 40).
    "alt_coa_misaligned": lambda: ip()
    / bu([m.MIP6OptAltCoA(acoa=COA), m.PadN(optdata=b"\x00" * 8)], autopad=0),
    # Binding Authorization Data followed by another option.
    "auth_data_not_last": lambda: ip()
    / bu([m.MIP6OptBindingAuthData(olen=12), m.MIP6OptNonceIndices(olen=4)]),
    # RH2 with Segments Left 0, and with two addresses.
    "rh2_segleft_0": lambda: ip()
    / m.IPv6ExtHdrRouting(type=2, addresses=[HOA], segleft=0)
    / m.MIP6MH_BA(seq=1),
    "rh2_two_addresses": lambda: ip()
    / m.IPv6ExtHdrRouting(type=2, addresses=[HOA, COA], segleft=1)
    / m.MIP6MH_BA(seq=1),
    # HAO right after the header's first two bytes (offset 2, not 8n+6; 2 + 18 + 4 = 24).
    "hao_misaligned": lambda: ip()
    / m.IPv6ExtHdrDestOpt(options=[m.HAO(hoa=HOA), m.PadN(optdata=b"\x00" * 2)], autopad=0)
    / bu([]),
    # Payload Proto 6 instead of 59.
    "mh_payload_proto": lambda: ip() / bu([], nh=6),
    # A HoT of 16 bytes (the type needs 24).
    "hot_too_short": lambda: ip() / MIP6MH_Generic(mhtype=3, msg=b"\x00" * 10),
    # A wrong checksum: parses, but fails verification.
    "bad_checksum": lambda: ip() / m.IPv6ExtHdrDestOpt(options=[m.HAO(hoa=HOA)]) / bu([], cksum=0x1234),
    # The checksum computed without the HAO (the source address in the pseudo-header
    # instead of the home address) must fail too.
    "checksum_without_hao": lambda: without_hao_checksum(),
}


def without_hao_checksum():
    good = ip() / bu([])
    cksum = m.IPv6(bytes(good))[m.MIP6MH_BU].cksum
    return ip() / m.IPv6ExtHdrDestOpt(options=[m.HAO(hoa=HOA)]) / bu([], cksum=cksum)


def main():
    m.read_input()
    cases = []
    for name, make in CASES.items():
        case = m.guarded(lambda: {"hex": bytes(make()).hex()})
        case["name"] = name
        cases.append(case)
    m.write_output({"cases": cases})


if __name__ == "__main__":
    main()
