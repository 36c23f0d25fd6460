"""MTU arithmetic of DESIGN.md §5 (pure)."""

from __future__ import annotations

VXLAN_OVERHEAD_V4 = 50  # inner Ethernet 14 + outer IPv4 20 + UDP 8 + VXLAN 8
VXLAN_OVERHEAD_V6 = 70  # outer IPv6 header is 20 bytes longer
# ESP transport mode, rfc4106(gcm(aes)) with a 128-bit ICV: SPI 4 + seq 4 + IV 8 + ICV 16 +
# pad length 1 + next header 1; the payload is then padded to a multiple of 4.
ESP_OVERHEAD = 4 + 4 + 8 + 16 + 2


def inner_mtu(underlay_mtu: int, encrypted: bool, ipv6_underlay: bool = False) -> int:
    """The largest inner (container-side) MTU that fits the underlay without fragmentation."""
    mtu = underlay_mtu - (VXLAN_OVERHEAD_V6 if ipv6_underlay else VXLAN_OVERHEAD_V4)
    if encrypted:
        mtu -= ESP_OVERHEAD
        mtu -= mtu % 4
    return mtu
