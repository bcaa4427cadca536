#!/usr/bin/python3
"""Builds samples/return-routability.pcap with scapy, independently of vany's code.

A correspondent (the client, fd00:1::1) and a mobile node (home address fd00:aa::1, the
anycast address; care-of address fd00:2::2, a member) run return routability, a signed
Binding Update and a signed Binding Acknowledgement, then TCP with RH2 and HAO. Tokens
and authenticators are computed here with Python's hmac/hashlib from the RFC 6275
formulas (§5.2.5, §6.2.7) with a fixed Kcn, so the capture is reproducible.

Run: /usr/bin/python3 scripts/make-sample-capture.py samples/return-routability.pcap
It prints the keygen tokens to pass to `vany inspect --tokens`.
"""
import hashlib
import hmac
import socket
import sys

from scapy.all import (HAO, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, MIP6MH_BA,
                       MIP6MH_BU, MIP6MH_CoT, MIP6MH_CoTI, MIP6MH_HoT, MIP6MH_HoTI,
                       MIP6OptBindingAuthData, MIP6OptBRAdvice, MIP6OptNonceIndices, TCP,
                       wrpcap)

CN, HOA, COA = "fd00:1::1", "fd00:aa::1", "fd00:2::2"
KCN = bytes(range(1, 21))
HOME_NONCE, CAREOF_NONCE = bytes.fromhex("1111111111111111"), bytes.fromhex("2222222222222222")
HOME_INDEX, CAREOF_INDEX = 7, 8


def a(addr):
    return socket.inet_pton(socket.AF_INET6, addr)


def token(addr, nonce, which):
    return hmac.new(KCN, a(addr) + nonce + bytes([which]), hashlib.sha1).digest()[:8]


def sign(pkt, mh_cls, coa, cn, kbm):
    """Sets the authenticator to First(96, HMAC_SHA1(Kbm, CoA|CN|MH data)).

    The packet is built from fresh objects, not re-dissected: scapy's in6_pseudoheader
    only uses the HAO when it is the Destination Options header's sole option, and a
    dissected header also lists its PadN, so a re-dissected packet would get a checksum
    over the care-of address instead of the home address.
    """
    mh = bytearray(bytes(pkt)[-len(bytes(pkt[mh_cls])):])
    mh[4:6] = b"\0\0"
    auth = hmac.new(kbm, a(coa) + a(cn) + bytes(mh[:-12]), hashlib.sha1).digest()[:12]
    pkt[MIP6OptBindingAuthData].authenticator = int.from_bytes(auth, "big")
    pkt[mh_cls].cksum = None
    return pkt


def main(path):
    home_token = token(HOA, HOME_NONCE, 0)
    careof_token = token(COA, CAREOF_NONCE, 1)
    kbm = hashlib.sha1(home_token + careof_token).digest()
    hoti_cookie, coti_cookie = bytes.fromhex("0102030405060708"), bytes.fromhex("a1a2a3a4a5a6a7a8")
    pkts = [
        IPv6(src=HOA, dst=CN) / MIP6MH_HoTI(cookie=hoti_cookie),
        IPv6(src=COA, dst=CN) / MIP6MH_CoTI(cookie=coti_cookie),
        IPv6(src=CN, dst=HOA) / MIP6MH_HoT(index=HOME_INDEX, cookie=hoti_cookie, token=home_token),
        IPv6(src=CN, dst=COA) / MIP6MH_CoT(index=CAREOF_INDEX, cookie=coti_cookie, token=careof_token),
    ]
    bu = (IPv6(src=COA, dst=CN) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) /
          MIP6MH_BU(seq=1, flags="A", mhtime=105,
                    options=[MIP6OptNonceIndices(olen=4, hni=HOME_INDEX, coni=CAREOF_INDEX),
                             MIP6OptBindingAuthData(olen=12)]))
    pkts.append(sign(bu, MIP6MH_BU, COA, CN, kbm))
    ba = (IPv6(src=CN, dst=COA) / IPv6ExtHdrRouting(type=2, addresses=[HOA], segleft=1) /
          MIP6MH_BA(status=0, seq=1, mhtime=105,
                    options=[MIP6OptBRAdvice(rinter=90), MIP6OptBindingAuthData(olen=12)]))
    pkts.append(sign(ba, MIP6MH_BA, COA, CN, kbm))
    pkts.append(IPv6(src=CN, dst=COA) / IPv6ExtHdrRouting(type=2, addresses=[HOA], segleft=1) /
                TCP(sport=40000, dport=80, flags="S", seq=1000, options=[("MSS", 1196)]))
    pkts.append(IPv6(src=COA, dst=CN) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) /
                TCP(sport=80, dport=40000, flags="SA", seq=5000, ack=1001, options=[("MSS", 1196)]))
    for i, p in enumerate(pkts):
        p.time = 1700000000 + i * 0.01
    wrpcap(path, pkts)
    print(f"--tokens {home_token.hex()}:{careof_token.hex()}")
    print(f"--kbm {kbm.hex()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "samples/return-routability.pcap")
