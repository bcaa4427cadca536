"""vany -> scapy: dissects packets vany built and rebuilds them from their fields.

stdin:  {"cases": [{"hex": str, "fields": <fields dict vany meant to emit>}, ...]}
stdout: {"results": [{"fields": <what scapy dissected>,
                      "wire_checksum": int,      # the MH checksum field as received
                      "scapy_checksum": int,     # scapy's in6_chksum over the packet
                      "rebuilt": str}            # fresh scapy objects from the input
                                                 # fields, autopad on, as hex
                     | {"error": str}, ...]}
"""

import mip6_fields as m


def one(case):
    raw = bytes.fromhex(case["hex"])
    fields, p, mh_layer = m.dissect(raw)
    wire = mh_layer.cksum
    ours = m.recompute_checksum(raw, p, mh_layer)
    rebuilt = bytes(m.build(case["fields"])).hex()
    return {
        "fields": fields,
        "wire_checksum": wire,
        "scapy_checksum": ours,
        "rebuilt": rebuilt,
    }


def main():
    doc = m.read_input()
    m.write_output({"results": [m.guarded(one, case) for case in doc["cases"]]})


if __name__ == "__main__":
    main()
