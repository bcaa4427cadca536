"""Neighbor Discovery and echo interop with vany's stack/src/l2 (RFC 4861, RFC 4443).

Two modes, chosen by the input's "mode":

generate: {"mode": "generate", "vany_mac", "peer_mac": str, "coa", "anycast", "peer": addr}
  -> {"cases": [{"name": str, "hex": str, "expect": "na" | "echo" | "drop"}, ...]}
  scapy builds the frames a neighbor or a pinging host sends, valid and hostile.

check: {"mode": "check", "frames": [{"name": str, "hex": str}, ...]}
  -> {"results": [{"eth_dst", "eth_src", "src", "dst": str, "hlim", "type", "code",
                   "wire_cksum", "scapy_cksum": int, ...type fields} | {"error": str}]}
  scapy dissects the frames vany sent and recomputes their ICMPv6 checksums.
"""

import json
import sys
import traceback

_STDOUT = sys.stdout
sys.stdout = sys.stderr

try:
    from scapy.layers.l2 import Ether
    from scapy.layers.inet6 import (
        IPv6,
        ICMPv6ND_NS,
        ICMPv6ND_NA,
        ICMPv6NDOptSrcLLAddr,
        ICMPv6NDOptDstLLAddr,
        ICMPv6EchoRequest,
        ICMPv6EchoReply,
        in6_chksum,
        in6_getnsma,
        in6_getnsmac,
    )
    import socket
except ImportError as e:  # pragma: no cover - environment problem
    sys.stderr.write("scapy is missing (%s): run `apt-get install python3-scapy`\n" % e)
    sys.exit(3)


def sn(addr):
    """Solicited-node multicast address and its MAC (RFC 4291 §2.7.1, RFC 2464 §7)."""
    a = socket.inet_ntop(socket.AF_INET6, in6_getnsma(socket.inet_pton(socket.AF_INET6, addr)))
    return a, in6_getnsmac(socket.inet_pton(socket.AF_INET6, a))


def generate(doc):
    vm, pm = doc["vany_mac"], doc["peer_mac"]
    coa, anycast, peer = doc["coa"], doc["anycast"], doc["peer"]
    coa_sn, coa_sn_mac = sn(coa)
    any_sn, any_sn_mac = sn(anycast)
    other = "fd00::99"
    other_sn, other_sn_mac = sn(other)
    cases = []

    def add(name, pkt, expect):
        cases.append({"name": name, "hex": bytes(pkt).hex(), "expect": expect})

    def ns(dst_mac, src, dst, tgt, opts=None, hlim=255, **icmp):
        p = Ether(dst=dst_mac, src=pm) / IPv6(src=src, dst=dst, hlim=hlim) / ICMPv6ND_NS(tgt=tgt, **icmp)
        return p / opts if opts is not None else p

    sll = ICMPv6NDOptSrcLLAddr(lladdr=pm)
    add("ns_unicast", ns(vm, peer, coa, coa, sll), "na")
    add("ns_unicast_no_option", ns(vm, peer, coa, coa), "na")
    add("ns_solicited_node", ns(coa_sn_mac, peer, coa_sn, coa, sll), "na")
    add("ns_anycast", ns(any_sn_mac, peer, any_sn, anycast, sll), "na")
    add("ns_dad", ns(coa_sn_mac, "::", coa_sn, coa), "na")
    add("echo_coa", Ether(dst=vm, src=pm) / IPv6(src=peer, dst=coa) / ICMPv6EchoRequest(id=0x4242, seq=3, data=b"vany ping"), "echo")
    add("echo_anycast", Ether(dst=vm, src=pm) / IPv6(src=peer, dst=anycast) / ICMPv6EchoRequest(id=1, seq=65535, data=bytes(range(200))), "echo")
    # Hostile or not for us: dropped.
    add("ns_hop_limit_64", ns(vm, peer, coa, coa, sll, hlim=64), "drop")
    add("ns_bad_checksum", ns(vm, peer, coa, coa, sll, cksum=0x1234), "drop")
    add("ns_code_1", ns(vm, peer, coa, coa, sll, code=1), "drop")
    add("ns_zero_length_option", ns(vm, peer, coa, coa, ICMPv6NDOptSrcLLAddr(len=0, lladdr=pm)), "drop")
    add("ns_dad_with_sllao", ns(coa_sn_mac, "::", coa_sn, coa, sll), "drop")
    add("ns_other_target", ns(other_sn_mac, peer, other_sn, other, sll), "drop")
    add("echo_bad_checksum", Ether(dst=vm, src=pm) / IPv6(src=peer, dst=coa) / ICMPv6EchoRequest(id=1, seq=1, cksum=0x1), "drop")
    return {"cases": cases}


def check_one(frame):
    raw = bytes.fromhex(frame["hex"])
    e = Ether(raw)
    ip = e[IPv6]
    icmp = ip.payload
    wire = icmp.cksum
    body = bytes(icmp)
    zeroed = body[:2] + b"\0\0" + body[4:]
    ours = in6_chksum(58, ip, zeroed)
    r = {
        "eth_dst": e.dst, "eth_src": e.src, "ethertype": e.type,
        "src": ip.src, "dst": ip.dst, "hlim": ip.hlim, "plen": ip.plen,
        "type": icmp.type, "code": icmp.code,
        "wire_cksum": wire, "scapy_cksum": ours,
    }
    if icmp.haslayer(ICMPv6ND_NA):
        na = icmp[ICMPv6ND_NA]
        r.update({"R": na.R, "S": na.S, "O": na.O, "tgt": na.tgt})
        r["tllao"] = na[ICMPv6NDOptDstLLAddr].lladdr if na.haslayer(ICMPv6NDOptDstLLAddr) else None
    if icmp.haslayer(ICMPv6ND_NS):
        ns = icmp[ICMPv6ND_NS]
        r["tgt"] = ns.tgt
        r["sllao"] = ns[ICMPv6NDOptSrcLLAddr].lladdr if ns.haslayer(ICMPv6NDOptSrcLLAddr) else None
    if icmp.haslayer(ICMPv6EchoReply):
        er = icmp[ICMPv6EchoReply]
        r.update({"id": er.id, "seq": er.seq, "data": bytes(er.data).hex()})
    return r


def guarded(fn, arg):
    try:
        return fn(arg)
    except Exception:  # noqa: BLE001 - reported to the test, which fails with it
        return {"error": traceback.format_exc()}


def main():
    doc = json.load(sys.stdin)
    if doc["mode"] == "generate":
        out = generate(doc)
    else:
        out = {"results": [guarded(check_one, f) for f in doc["frames"]]}
    json.dump(out, _STDOUT, separators=(",", ":"))
    _STDOUT.write("\n")


if __name__ == "__main__":
    main()
