"""The client's IP address: the TCP peer, or a forwarded hop when the peer is a trusted proxy.

X-Forwarded-For is believed only when the request came straight from a configured proxy; then the
list is read from the right (the hop the last proxy saw) and the first address that is not itself
a trusted proxy is the client. A direct request's X-Forwarded-For is ignored, so nobody can choose
the address they are rate-limited and counted under. The address lives in memory only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

from starlette.datastructures import Headers

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# More hops than any real proxy chain; a longer header is read only this far from the right.
MAX_HOPS: Final = 16


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse the trusted-proxy CIDR list; raises ValueError naming the bad entry."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"MICROCV_TRUSTED_PROXIES: {cidr!r} is not an IP network") from None
    return tuple(networks)


def _address(text: str) -> IPAddress | None:
    text = text.strip()
    # "[v6]:port" and "v4:port" forms some proxies write.
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class ClientAddresses:
    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted = parse_networks(trusted_proxies)

    def _is_trusted(self, addr: IPAddress) -> bool:
        return any(addr in net for net in self._trusted)

    def resolve(self, peer: str, headers: Headers) -> str:
        """The client address for a request from TCP peer `peer` carrying `headers`."""
        peer_addr = _address(peer)
        if peer_addr is None or not self._trusted or not self._is_trusted(peer_addr):
            return str(peer_addr) if peer_addr is not None else peer
        hops = [h for value in headers.getlist("x-forwarded-for") for h in value.split(",")]
        client = peer_addr
        for hop in reversed(hops[-MAX_HOPS:]):
            addr = _address(hop)
            # An unreadable hop ends the walk: the last trusted proxy's peer is the best we know.
            if addr is None:
                break
            client = addr
            if not self._is_trusted(addr):
                break
        return str(client)
