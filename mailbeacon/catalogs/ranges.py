"""Match an address against many networks: sorted, merged integer ranges and a bisect.

IPv4 ranges are kept as 32-bit integers. IPv6 ranges are kept on their top 64 bits: every
published mail-proxy and crawler prefix is a /64 or shorter, and a longer one is widened to
its /64 (documented, and harmless: nobody else shares a provider's /64). Both live in
``array`` objects, so a compiled catalogue loads from bytes in microseconds and a lookup is
two binary searches, whatever the catalogue's size (Apple's list has ~300k prefixes).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
from array import array
from bisect import bisect_right
from collections.abc import Iterable

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAGIC = b"MBR1"
_V6_SHIFT = 64
_CIDR = re.compile(
    r"(?<![\w:.])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})/\d{1,3}(?![\w/])"
)


def _merge(pairs: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    pairs.sort()
    starts: list[int] = []
    ends: list[int] = []
    for start, end in pairs:
        if ends and start <= ends[-1] + 1:
            if end > ends[-1]:
                ends[-1] = end
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A network from ``text`` (a CIDR or a bare address), or None when it is not one."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def network_bounds(text: str) -> tuple[int, int, int] | None:
    """(version, first, last) of a CIDR, or None. inet_pton keeps Apple's 300k-line list to
    about a second where `ipaddress` takes twenty."""
    address, _, length = text.strip().partition("/")
    family, bits = (socket.AF_INET6, 128) if ":" in address else (socket.AF_INET, 32)
    try:
        value = int.from_bytes(socket.inet_pton(family, address), "big")
        prefix = int(length) if length else bits
    except (OSError, ValueError):
        return None
    if not 0 <= prefix <= bits or (length and not length.isdigit()):
        return None
    host = (1 << (bits - prefix)) - 1
    first = value & ~host
    return (6 if bits == 128 else 4), first, first | host


def find_cidrs(text: str) -> list[str]:
    """Every CIDR-looking token in free text (a vendor's HTML page), validated."""
    return [m for m in _CIDR.findall(text) if parse_network(m) is not None]


def _subtract(
    starts: array, ends: array, cut_starts: array, cut_ends: array, code: str
) -> tuple[array, array]:
    """Merged ranges minus merged ranges, both sorted: one walk over each."""
    out_s, out_e = array(code), array(code)
    j = 0
    for start, end in zip(starts, ends, strict=True):
        while j < len(cut_ends) and cut_ends[j] < start:
            j += 1
        k, cursor = j, start
        while k < len(cut_starts) and cut_starts[k] <= end and cursor <= end:
            if cut_starts[k] > cursor:
                out_s.append(cursor)
                out_e.append(cut_starts[k] - 1)
            cursor = max(cursor, cut_ends[k] + 1)
            k += 1
        if cursor <= end:
            out_s.append(cursor)
            out_e.append(end)
    return out_s, out_e


class RangeSet:
    """A set of networks that answers ``address in ranges`` with two bisects."""

    __slots__ = ("v4_ends", "v4_starts", "v6_ends", "v6_starts")

    def __init__(self, v4: tuple[array, array], v6: tuple[array, array]) -> None:
        self.v4_starts, self.v4_ends = v4
        self.v6_starts, self.v6_ends = v6

    @classmethod
    def from_networks(cls, networks: Iterable[str]) -> RangeSet:
        """Build from CIDR strings; entries that are not networks are skipped."""
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for text in networks:
            bounds = network_bounds(text)
            if bounds is None:
                continue
            version, first, last = bounds
            if version == 4:
                v4.append((first, last))
            else:
                v6.append((first >> _V6_SHIFT, last >> _V6_SHIFT))
        s4, e4 = _merge(v4)
        s6, e6 = _merge(v6)
        return cls((array("I", s4), array("I", e4)), (array("Q", s6), array("Q", e6)))

    def difference(self, other: RangeSet) -> RangeSet:
        """The networks of ``self`` with every address of ``other`` taken out."""
        return RangeSet(
            _subtract(self.v4_starts, self.v4_ends, other.v4_starts, other.v4_ends, "I"),
            _subtract(self.v6_starts, self.v6_ends, other.v6_starts, other.v6_ends, "Q"),
        )

    def to_networks(self) -> list[str]:
        """The set as the fewest CIDRs (IPv6 at /64 granularity, as it is stored)."""
        out: list[str] = []
        for start, end in zip(self.v4_starts, self.v4_ends, strict=True):
            first, last = ipaddress.IPv4Address(start), ipaddress.IPv4Address(end)
            out.extend(str(n) for n in ipaddress.summarize_address_range(first, last))
        low = (1 << _V6_SHIFT) - 1
        for start, end in zip(self.v6_starts, self.v6_ends, strict=True):
            first = ipaddress.IPv6Address(start << _V6_SHIFT)
            last = ipaddress.IPv6Address((end << _V6_SHIFT) | low)
            out.extend(str(n) for n in ipaddress.summarize_address_range(first, last))
        return out

    def __len__(self) -> int:
        return len(self.v4_starts) + len(self.v6_starts)

    def __contains__(self, address: IpAddress) -> bool:
        if address.version == 4:
            value, starts, ends = int(address), self.v4_starts, self.v4_ends
        else:
            value, starts, ends = int(address) >> _V6_SHIFT, self.v6_starts, self.v6_ends
        i = bisect_right(starts, value) - 1
        return i >= 0 and value <= ends[i]

    def to_bytes(self) -> bytes:
        """A compact binary form that `from_bytes` loads without parsing any text."""
        parts = [self.v4_starts, self.v4_ends, self.v6_starts, self.v6_ends]
        header = _MAGIC + struct.pack("<2I", len(self.v4_starts), len(self.v6_starts))
        return header + b"".join(part.tobytes() for part in parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> RangeSet:
        if data[:4] != _MAGIC:
            raise ValueError("not a compiled catalogue")
        n4, n6 = struct.unpack_from("<2I", data, 4)
        offset = 12
        arrays = []
        for code, count in (("I", n4), ("I", n4), ("Q", n6), ("Q", n6)):
            part = array(code)
            size = part.itemsize * count
            part.frombytes(data[offset : offset + size])
            if len(part) != count:
                raise ValueError("truncated compiled catalogue")
            arrays.append(part)
            offset += size
        return cls((arrays[0], arrays[1]), (arrays[2], arrays[3]))
