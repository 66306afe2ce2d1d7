"""Where an outward connection must never lead: one rule for every fetch and tunnel Opscore
opens to a name it was given, so none can be steered into the machine's own networks."""

import ipaddress

NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address reached through NAT64
# Never public, though Python counts them so: a network's own NAT64 prefix (RFC 8215), whose
# gateway reaches its private IPv4 addresses; IPv4-compatible addresses, tunnelled to the IPv4
# address they end in where a host still takes them; and site-local addresses.
NEVER_PUBLIC = [ipaddress.ip_network(n) for n in ("64:ff9b:1::/48", "::/96", "fec0::/10")]


def inward(address: str) -> bool:
    """Anything not on the public internet: loopback, private, link-local, shared
    (100.64.0.0/10, a carrier's or a tailnet's), reserved, multicast, unspecified. An IPv4
    address wrapped in IPv6 (mapped, NAT64's or 6to4's) is judged as itself: 64:ff9b::a00:1 is
    10.0.0.1 on a network with a NAT64 gateway, and a 6to4 relay delivers 2002:a00:1:: to it."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6:
        if any(ip in network for network in NEVER_PUBLIC):
            return True
        wrapped = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else ip.ipv4_mapped
        ip = wrapped or ip.sixtofour or ip
    return not ip.is_global or ip.is_multicast
