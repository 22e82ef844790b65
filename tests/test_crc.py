"""lvm_crc: lvm2's CRC-32 variant, against an independent bitwise model and lvm2's own checksums.

The real checksums come from ``pvck --dump headers`` of disks that real lvm2 wrote
(``fixtures/oracle/*/guest/pvck_headers_*.txt``).
"""

from __future__ import annotations

import lzma
import re
from pathlib import Path

import pytest
from conftest import ORACLE, load_oracle
from hypothesis import given, settings
from hypothesis import strategies as st

from lvmread.ondisk.crc import INITIAL_CRC, lvm_crc


def bitwise_crc(data: bytes, crc: int = 0xF597A6CF) -> int:
    """lvm2's calc_crc written out bit by bit: reflected poly, no inversion anywhere."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc


def test_initial_value_is_lvm2s() -> None:
    assert INITIAL_CRC == 0xF597A6CF
    assert lvm_crc(b"") == 0xF597A6CF
    assert lvm_crc(b"", 0) == 0
    assert lvm_crc(b"", 0x12345678) == 0x12345678


@pytest.mark.parametrize(
    "data",
    [b"\0", b"\xff", b"a", b"123456789", bytes(range(256)), b"\0" * 512, b"\xff" * 4096],
)
def test_known_inputs(data: bytes) -> None:
    assert lvm_crc(data) == bitwise_crc(data)


def test_not_zlib_crc32() -> None:
    """lvm2's CRC is not the standard CRC-32 (different init, no final xor)."""
    import zlib

    assert lvm_crc(b"123456789") != zlib.crc32(b"123456789")
    # The standard check value of CRC-32 with init 0xffffffff and final xor.
    assert lvm_crc(b"123456789", 0xFFFFFFFF) ^ 0xFFFFFFFF == 0xCBF43926


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2048), init=st.integers(0, 0xFFFFFFFF))
def test_matches_bitwise_model(data: bytes, init: int) -> None:
    assert lvm_crc(data, init) == bitwise_crc(data, init)
    assert lvm_crc(data) == bitwise_crc(data)


@settings(max_examples=300, deadline=None)
@given(a=st.binary(max_size=1024), b=st.binary(max_size=1024), c=st.binary(max_size=64))
def test_chaining(a: bytes, b: bytes, c: bytes) -> None:
    assert lvm_crc(b, lvm_crc(a)) == lvm_crc(a + b)
    assert lvm_crc(c, lvm_crc(b, lvm_crc(a))) == lvm_crc(a + b + c)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(min_size=1, max_size=512), pos=st.integers(0, 511), bit=st.integers(0, 7))
def test_single_bit_flip_always_detected(data: bytes, pos: int, bit: int) -> None:
    pos %= len(data)
    flipped = bytearray(data)
    flipped[pos] ^= 1 << bit
    assert lvm_crc(bytes(flipped)) != lvm_crc(data)


# --- lvm2's own checksums ------------------------------------------------------------


def _pvck_values(path: Path) -> dict[str, str]:
    """``name value`` lines of a pvck --dump headers file (``at`` lines left out)."""
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] != "at" and parts[0] != "metadata":
            out[parts[0]] = " ".join(parts[1:])
    return out


def _pvck_text_line(path: Path) -> tuple[int, int]:
    """(absolute offset, crc) of the ``metadata text at N crc 0x...`` line."""
    m = re.search(r"^\s*metadata text at (\d+) crc (0x[0-9a-f]+)", path.read_text(), re.M)
    assert m, path
    return int(m.group(1)), int(m.group(2), 16)


def _disks() -> list[tuple[str, str, str]]:
    """(scenario, image file, guest device letter part) of every oracle disk."""
    out = []
    for scen in sorted(p.parent.name for p in ORACLE.glob("*/oracle.json")):
        for img in load_oracle(scen)["images"]:
            out.append((scen, img["file"], img["guest_dev"].rsplit("/", 1)[1]))
    return out


DISKS = _disks()


def _head(scenario: str, image: str, n: int = 2 << 20) -> bytes:
    """The first ``n`` bytes of a compressed oracle image (only that much is decompressed)."""
    with lzma.open(ORACLE / scenario / f"{image}.xz") as f:
        return f.read(n)


@pytest.mark.parametrize(("scenario", "image", "dev"), DISKS, ids=[d[1] for d in DISKS])
def test_real_checksums(scenario: str, image: str, dev: str) -> None:
    pvck = ORACLE / scenario / "guest" / f"pvck_headers_{dev}.txt"
    values = _pvck_values(pvck)
    head = _head(scenario, image)

    # Label: crc over bytes 20..511 of the label sector.
    label_at = 512 * int(values["label_header.sector"])
    label = head[label_at : label_at + 512]
    assert label[:8] == b"LABELONE"
    assert lvm_crc(label[20:]) == int(values["label_header.crc"], 16)
    assert lvm_crc(label[20:]) == int.from_bytes(label[16:20], "little")

    # mda_header: checksum over bytes 4..511 of the header.
    mda_at = int(values["mda_header_1.start"])
    mda = head[mda_at : mda_at + 512]
    assert lvm_crc(mda[4:]) == int(values["mda_header_1.checksum"], 16)
    assert lvm_crc(mda[4:]) == int.from_bytes(mda[:4], "little")

    # Metadata text: the checksum recorded in raw_locn[0], over `size` bytes (NUL included).
    text_at, text_crc = _pvck_text_line(pvck)
    offset = int(values["mda_header_1.raw_locn[0].offset"])
    size = int(values["mda_header_1.raw_locn[0].size"])
    assert text_at == mda_at + offset
    assert offset + size <= int(values["mda_header_1.size"])  # no wrap in these disks
    text = head[text_at : text_at + size]
    assert text.endswith(b"\0") and b"\0" not in text[:-1]
    assert lvm_crc(text) == text_crc == int(values["mda_header_1.raw_locn[0].checksum"], 16)
    # Chained over any split point, as lvm2 does for a text that wraps the ring.
    for cut in (1, size // 3, size - 1):
        assert lvm_crc(text[cut:], lvm_crc(text[:cut])) == text_crc
