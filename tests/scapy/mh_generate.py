"""scapy -> vany: builds random Mobility Header packets with scapy.

stdin:  {"seed": int, "per_type": int}
stdout: {"cases": [{"type": str, "index": int, "hex": str, "checksum": int,
                    "fields": <fields dict, see mip6_fields>} | {"error": str}, ...]}

Each MH type gets its own random.Random seeded from (seed, type), so the packets of
one type do not change when another type's generator changes.
"""

import random

import mip6_fields as m


def one(rng, mh_type, index):
    fields = m.rand_fields(rng, mh_type)
    raw = bytes(m.build(fields))
    # Sanity check of this helper against scapy itself: scapy must dissect what it
    # built into the same fields, or the expectations we hand to vany are wrong.
    back, _, mh_layer = m.dissect(raw)
    if back != fields:
        raise m.Unexpected("scapy does not dissect its own packet back: %r != %r" % (back, fields))
    return {
        "type": mh_type,
        "index": index,
        "hex": raw.hex(),
        "checksum": mh_layer.cksum,
        "fields": fields,
    }


def main():
    doc = m.read_input()
    seed, per_type = doc["seed"], doc["per_type"]
    cases = []
    for mh_type in m.MH_TYPES:
        rng = random.Random("%d-%s" % (seed, mh_type))
        for index in range(per_type):
            case = m.guarded(one, rng, mh_type, index)
            case.setdefault("type", mh_type)
            case.setdefault("index", index)
            cases.append(case)
    m.write_output({"cases": cases})


if __name__ == "__main__":
    main()
