"""Where an outward connection must never lead: one rule for every fetch and tunnel Opscore
opens to a name it was given, so none can be steered into the machine's own networks."""

import ipaddress

NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address reached through NAT64


def inward(address: str) -> bool:
    """Anything not on the public internet: loopback, private, link-local, shared
    (100.64.0.0/10, a carrier's or a tailnet's), reserved, multicast, unspecified. An IPv4
    address wrapped in IPv6 (mapped, or NAT64's) is judged as itself: 64:ff9b::a00:1 is
    10.0.0.1 on a network with a NAT64 gateway."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6:
        wrapped = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else ip.ipv4_mapped
        ip = wrapped or ip
    return not ip.is_global or ip.is_multicast
