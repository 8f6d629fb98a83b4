#!/usr/bin/env python3
"""Writes the frame_fuzz seed corpus: real Ethernet frames built independently of the C++ codec."""
import ipaddress, os, struct, sys

def csum(data):
    if len(data) % 2: data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

MAC_A = bytes.fromhex('020000000001')  # switch
MAC_B = bytes.fromhex('020000000002')  # endpoint
BCAST = b'\xff' * 6

def eth(dst, src, etype, tags=()):
    h = dst + src
    for tpid, tci in tags: h += struct.pack('!HH', tpid, tci)
    return h + struct.pack('!H', etype)

def pad(f):
    return f + b'\0' * max(0, 60 - len(f))

def ip4(src, dst, proto, payload, ttl=64, tos=0xb8, ident=0x1c46, frag=0x4000, options=b'', bad=False):
    ihl = 5 + len(options) // 4
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, tos, ihl * 4 + len(payload), ident, frag, ttl, proto, 0,
                    ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed) + options
    c = csum(h) ^ (0x5555 if bad else 0)
    return h[:10] + struct.pack('!H', c) + h[12:] + payload

def udp(src, dst, sport, dport, payload, v6=False, zero=False, bad=False):
    length = 8 + len(payload)
    h = struct.pack('!HHHH', sport, dport, length, 0)
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if v6: ph = s + d + struct.pack('!I3xB', length, 17)
    else: ph = s + d + struct.pack('!xBH', 17, length)
    c = csum(ph + h + payload)
    if c == 0: c = 0xffff
    if zero: c = 0
    if bad: c ^= 0x0101
    return h[:6] + struct.pack('!H', c) + payload

def ip6(src, dst, nh, payload, hlim=64, tc=0xb8, flow=0x12345):
    return struct.pack('!IHBB16s16s', (6 << 28) | (tc << 20) | flow, len(payload), nh, hlim,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed) + payload

def icmp6(src, dst, body):
    ph = ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + struct.pack('!I3xB', len(body), 58)
    c = csum(ph + body)
    return body[:2] + struct.pack('!H', c) + body[4:]

def rtp(seq, payload_len):
    hdr = struct.pack('!BBHII', 0x80, 96 | 0x80, seq, 0x12345678, 0xCAFEBABE)
    body = bytes((i * 37 + 11) & 0xff for i in range(payload_len))
    return hdr + body + bytes.fromhex('a1b2c3d4e5f60718293a')  # SRTP-like tag

def arp(op, sha, spa, tha, tpa):
    return struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, op, sha, ipaddress.IPv4Address(spa).packed,
                       tha, ipaddress.IPv4Address(tpa).packed)

def ns(src, dst, target, sll):
    body = struct.pack('!BBHI16s', 135, 0, 0, 0, ipaddress.IPv6Address(target).packed)
    if sll: body += b'\x01\x01' + sll
    return icmp6(src, dst, body)

def na(src, dst, target, tll, flags):
    body = struct.pack('!BBHI16s', 136, 0, 0, flags << 29, ipaddress.IPv6Address(target).packed)
    body += b'\x02\x01' + tll
    return icmp6(src, dst, body)

V4A, V4B = '10.0.0.1', '10.0.0.2'
V6A, V6B = '2001:db8::1', '2001:db8::2'
LLA, LLB = 'fe80::1', 'fe80::2'

frames = {}
media4 = rtp(1000, 160)
frames['ipv4_udp_rtp'] = eth(MAC_A, MAC_B, 0x0800) + ip4(V4B, V4A, 17, udp(V4B, V4A, 50000, 20000, media4))
frames['ipv6_udp_rtp'] = eth(MAC_A, MAC_B, 0x86dd) + ip6(V6B, V6A, 17, udp(V6B, V6A, 50002, 20002, rtp(7, 1100), v6=True))
frames['vlan_ipv4_udp_rtp'] = eth(MAC_A, MAC_B, 0x0800, [(0x8100, (5 << 13) | 100)]) + ip4(V4B, V4A, 17, udp(V4B, V4A, 50000, 20000, media4))
frames['stag_ipv6_udp_rtp'] = eth(MAC_A, MAC_B, 0x86dd, [(0x88a8, 200)]) + ip6(V6B, V6A, 17, udp(V6B, V6A, 50002, 20002, rtp(8, 200), v6=True))
frames['double_tag_ipv4'] = eth(MAC_A, MAC_B, 0x0800, [(0x88a8, 200), (0x8100, 100)]) + ip4(V4B, V4A, 17, udp(V4B, V4A, 50000, 20000, media4))
frames['arp_request'] = pad(eth(BCAST, MAC_B, 0x0806) + arp(1, MAC_B, V4B, b'\0' * 6, V4A))
frames['arp_reply'] = pad(eth(MAC_B, MAC_A, 0x0806) + arp(2, MAC_A, V4A, MAC_B, V4B))
frames['vlan_arp_request'] = pad(eth(BCAST, MAC_B, 0x0806, [(0x8100, 100)]) + arp(1, MAC_B, V4B, b'\0' * 6, V4A)) + b'\0' * 4
frames['ndp_ns'] = eth(bytes.fromhex('3333ff000001'), MAC_B, 0x86dd) + ip6(LLB, 'ff02::1:ff00:1', 58, ns(LLB, 'ff02::1:ff00:1', LLA, MAC_B), hlim=255, tc=0, flow=0)
frames['ndp_ns_dad'] = eth(bytes.fromhex('3333ff000001'), MAC_B, 0x86dd) + ip6('::', 'ff02::1:ff00:1', 58, ns('::', 'ff02::1:ff00:1', LLA, None), hlim=255, tc=0, flow=0)
frames['ndp_na'] = eth(MAC_B, MAC_A, 0x86dd) + ip6(LLA, LLB, 58, na(LLA, LLB, LLA, MAC_A, 0b011), hlim=255, tc=0, flow=0)
frames['ipv4_fragment_mf'] = eth(MAC_A, MAC_B, 0x0800) + ip4(V4B, V4A, 17, udp(V4B, V4A, 50000, 20000, media4)[:96], frag=0x2000)
frames['ipv4_fragment_offset'] = eth(MAC_A, MAC_B, 0x0800) + ip4(V4B, V4A, 17, media4[88:], frag=12)
frag_hdr = struct.pack('!BBHI', 17, 0, 1, 0xdeadbeef)  # offset 0, M=1
frames['ipv6_fragment'] = eth(MAC_A, MAC_B, 0x86dd) + ip6(V6B, V6A, 44, frag_hdr + udp(V6B, V6A, 50002, 20002, rtp(9, 64), v6=True))
mld = icmp6(LLB, 'ff02::16', struct.pack('!BBHHH', 143, 0, 0, 0, 0))
hbh = struct.pack('!BB', 58, 0) + bytes.fromhex('0502000001000000')[:6] + b''  # router alert + PadN? keep 8 bytes
hbh = struct.pack('!BB', 58, 0) + bytes.fromhex('050200000100')
frames['ipv6_hop_by_hop'] = eth(bytes.fromhex('333300000016'), MAC_B, 0x86dd) + ip6(LLB, 'ff02::16', 0, hbh + mld, hlim=1, tc=0, flow=0)
igmp = struct.pack('!BBH4s', 0x16, 0, 0, ipaddress.IPv4Address('239.1.1.1').packed)
igmp = igmp[:2] + struct.pack('!H', csum(igmp)) + igmp[4:]
frames['ipv4_options'] = pad(eth(bytes.fromhex('01005e010101'), MAC_B, 0x0800) + ip4(V4B, '239.1.1.1', 2, igmp, ttl=1, tos=0xc0, options=bytes.fromhex('94040000')))
frames['ipv4_bad_ip_checksum'] = eth(MAC_A, MAC_B, 0x0800) + ip4(V4B, V4A, 17, udp(V4B, V4A, 50000, 20000, media4), bad=True)
frames['ipv4_bad_udp_checksum'] = eth(MAC_A, MAC_B, 0x0800) + ip4(V4B, V4A, 17, udp(V4B, V4A, 50000, 20000, media4, bad=True))
frames['ipv4_udp_zero_checksum_padded'] = pad(eth(MAC_A, MAC_B, 0x0800) + ip4(V4B, V4A, 17, udp(V4B, V4A, 50000, 20000, b'\x00\x01\x00\x00', zero=True)))
frames['ipv6_udp_zero_checksum'] = eth(MAC_A, MAC_B, 0x86dd) + ip6(V6B, V6A, 17, udp(V6B, V6A, 50002, 20002, rtp(10, 40), v6=True, zero=True))
echo = struct.pack('!BBHHH', 8, 0, 0, 0x4242, 1) + b'ping-payload'
echo = echo[:2] + struct.pack('!H', csum(echo)) + echo[4:]
frames['ipv4_icmp_echo'] = pad(eth(MAC_A, MAC_B, 0x0800) + ip4(V4B, V4A, 1, echo, tos=0))
frames['ipv6_icmp_echo'] = eth(MAC_A, MAC_B, 0x86dd) + ip6(V6B, V6A, 58, icmp6(V6B, V6A, struct.pack('!BBHHH', 128, 0, 0, 0x4242, 1) + b'ping6'), tc=0, flow=0)

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, f in frames.items():
    with open(os.path.join(out, name), 'wb') as fh: fh.write(f)
print(len(frames), 'frames')
