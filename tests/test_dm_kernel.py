"""The ioctl buffer layouts of lvmread.dm.kernel (no ioctl is issued)."""

from __future__ import annotations

import struct

import pytest

from lvmread.dm import TableEntry, parse_table
from lvmread.dm import kernel as k


def test_struct_sizes():
    assert k.DM_IOCTL_SIZE == 312
    assert k.DM_TARGET_SPEC_SIZE == 40


def test_request_numbers():
    # values as strace shows them on x86_64
    assert k.iowr(0xFD, 0, 312, "x86_64") == 0xC138FD00
    assert k.iowr(0xFD, 9, 312, "aarch64") == 0xC138FD09
    assert k.iowr(0xFD, 3, 312, "ppc64le") == 0xC138FD03
    assert k.DM_DEV_SUSPEND & 0xFF == k.DM_DEV_SUSPEND_CMD


def test_dev_encoding_round_trip():
    for major, minor in [(253, 0), (253, 255), (253, 256), (8, 1048575), (4095, 7)]:
        assert k.decode_dev(k.encode_dev(major, minor)) == (major, minor)
    assert k.encode_dev(253, 3) == (253 << 8) | 3


def test_pack_ioctl_header():
    buf = k.pack_ioctl("vg0-lv0", uuid="LVM-x", flags=k.DM_READONLY_FLAG, data_size=1024)
    assert len(buf) == 1024
    version = struct.unpack_from("=3I", buf, 0)
    data_size, data_start, count, open_count, flags = struct.unpack_from("=IIIiI", buf, 12)
    assert version == (4, 0, 0)
    assert (data_size, data_start, count, flags) == (1024, 312, 0, k.DM_READONLY_FLAG)
    assert buf[48 : 48 + 8] == b"vg0-lv0\0"
    assert buf[176 : 176 + 6] == b"LVM-x\0"
    hdr = k.unpack_ioctl(buf)
    assert hdr.name == "vg0-lv0" and hdr.uuid == "LVM-x"
    with pytest.raises(ValueError):
        k.pack_ioctl("x" * 128)


def test_pack_table_load_layout():
    entries = parse_table(
        "0 16384 linear 7:0 2048\n16384 8192 striped 2 128 7:0 2048 7:1 2048\n24576 100 zero\n"
    )
    buf = k.pack_table_load("vg0-lv0", entries, flags=k.DM_READONLY_FLAG)
    hdr = k.unpack_ioctl(buf)
    assert hdr.target_count == 3 and hdr.data_size == len(buf) and hdr.data_start == 312
    data = buf[312:]
    pos = 0
    for e in entries:
        start, length, status, nxt = struct.unpack_from("=QQiI", data, pos)
        assert (start, length, status) == (e.start, e.length, 0)
        assert data[pos + 24 : pos + 24 + len(e.target) + 1] == e.target.encode() + b"\0"
        params = e.params.encode() + b"\0"
        assert data[pos + 40 : pos + 40 + len(params)] == params
        assert nxt % 8 == 0 and nxt >= 40 + len(params)
        pos += nxt
    assert pos == len(data)
    assert k.unpack_target_specs(data, 3) == entries


def test_long_target_type_refused():
    with pytest.raises(ValueError):
        k.pack_target_specs([TableEntry(0, 1, "x" * 16)])
