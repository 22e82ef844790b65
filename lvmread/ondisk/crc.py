"""lvm2's checksum: CRC-32 with the reflected polynomial, a fixed initial value, no final xor."""

from __future__ import annotations

import zlib

INITIAL_CRC = 0xF597A6CF
"""lvm2's INITIAL_CRC: the starting value of every checksum it stores."""


def lvm_crc(data: bytes, crc: int = INITIAL_CRC) -> int:
    """Return lvm2's ``calc_crc(crc, data)``.

    lvm2 runs the standard reflected CRC-32 table but neither inverts the
    initial value nor the result; zlib inverts both, so invert around it.
    Chaining works as in lvm2: ``lvm_crc(b, lvm_crc(a)) == lvm_crc(a + b)``.
    """
    return zlib.crc32(data, crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
