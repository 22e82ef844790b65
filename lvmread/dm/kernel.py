"""The kernel's device-mapper ioctl interface: structures and request numbers.

This is the seam for handing tables to the real device mapper through
``/dev/mapper/control`` (``DM_DEV_CREATE``, ``DM_TABLE_LOAD``,
``DM_DEV_SUSPEND`` to resume).  It only builds and parses the ioctl buffers
(``struct dm_ioctl`` and ``struct dm_target_spec`` of
``include/uapi/linux/dm-ioctl.h``, interface version 4); issuing the ioctls is
left to the caller, e.g.::

    buf = bytearray(pack_table_load("vg0-lv0", entries, flags=DM_READONLY_FLAG))
    fcntl.ioctl(control_fd, DM_TABLE_LOAD, buf)

Tables should be loaded with ``DM_READONLY_FLAG`` (on create and load), so
the kernel opens the underlying devices read-only too.
"""

from __future__ import annotations

import platform
from typing import Iterable, List, Optional, Tuple

from construct import (
    Array,
    Bytes,
    Const,
    Int32sn,
    Int32un,
    Int64un,
    PaddedString,
    Struct,
)

from lvmread.dm.table import TableEntry, join_args, split_args

DM_DIR = "mapper"
DM_CONTROL_NODE = "control"
DM_CONTROL_PATH = "/dev/mapper/control"
DM_MAX_TYPE_NAME = 16
DM_NAME_LEN = 128
DM_UUID_LEN = 129

#: the interface version this module speaks (the kernel accepts any 4.x <= its own)
DM_VERSION_MAJOR = 4
DM_VERSION_MINOR = 0
DM_VERSION_PATCHLEVEL = 0

# struct dm_ioctl.flags
DM_READONLY_FLAG = 1 << 0
DM_SUSPEND_FLAG = 1 << 1
DM_EXISTS_FLAG = 1 << 2
DM_PERSISTENT_DEV_FLAG = 1 << 3
DM_STATUS_TABLE_FLAG = 1 << 4
DM_ACTIVE_PRESENT_FLAG = 1 << 5
DM_INACTIVE_PRESENT_FLAG = 1 << 6
DM_BUFFER_FULL_FLAG = 1 << 8
DM_SKIP_BDGET_FLAG = 1 << 9
DM_SKIP_LOCKFS_FLAG = 1 << 10
DM_NOFLUSH_FLAG = 1 << 11
DM_QUERY_INACTIVE_TABLE_FLAG = 1 << 12
DM_UEVENT_GENERATED_FLAG = 1 << 13
DM_UUID_FLAG = 1 << 14
DM_SECURE_DATA_FLAG = 1 << 15

#: struct dm_ioctl (312 bytes)
DmIoctl = Struct(
    "version" / Array(3, Int32un),
    "data_size" / Int32un,
    "data_start" / Int32un,
    "target_count" / Int32un,
    "open_count" / Int32sn,
    "flags" / Int32un,
    "event_nr" / Int32un,
    "padding" / Const(0, Int32un),
    "dev" / Int64un,
    "name" / PaddedString(DM_NAME_LEN, "utf8"),
    "uuid" / PaddedString(DM_UUID_LEN, "utf8"),
    "data" / Bytes(7),
)
DM_IOCTL_SIZE = DmIoctl.sizeof()

#: struct dm_target_spec (40 bytes); the NUL-terminated parameter string follows it
DmTargetSpec = Struct(
    "sector_start" / Int64un,
    "length" / Int64un,
    "status" / Int32sn,
    "next" / Int32un,
    "target_type" / PaddedString(DM_MAX_TYPE_NAME, "ascii"),
)
DM_TARGET_SPEC_SIZE = DmTargetSpec.sizeof()

# command numbers (enum in dm-ioctl.h)
DM_VERSION_CMD = 0
DM_REMOVE_ALL_CMD = 1
DM_LIST_DEVICES_CMD = 2
DM_DEV_CREATE_CMD = 3
DM_DEV_REMOVE_CMD = 4
DM_DEV_RENAME_CMD = 5
DM_DEV_SUSPEND_CMD = 6
DM_DEV_STATUS_CMD = 7
DM_DEV_WAIT_CMD = 8
DM_TABLE_LOAD_CMD = 9
DM_TABLE_CLEAR_CMD = 10
DM_TABLE_DEPS_CMD = 11
DM_TABLE_STATUS_CMD = 12
DM_LIST_VERSIONS_CMD = 13
DM_TARGET_MSG_CMD = 14
DM_DEV_SET_GEOMETRY_CMD = 15

DM_IOCTL = 0xFD

_ALIGN = 8  # libdevmapper aligns each dm_target_spec to 8 bytes


def iowr(type_: int, nr: int, size: int, machine: Optional[str] = None) -> int:
    """Linux ``_IOWR(type, nr, size)`` for ``machine`` (default: this one).

    The generic encoding (x86, arm, arm64, riscv, s390, loongarch) has 2
    direction bits at bit 30 and 14 size bits; powerpc, mips, sparc and alpha
    have 3 direction bits at bit 29 (read 2, write 4) and 13 size bits.
    """
    m = (machine or platform.machine()).lower()
    if m.startswith(("ppc", "powerpc", "mips", "sparc", "alpha")):
        return (6 << 29) | (size << 16) | (type_ << 8) | nr
    return (3 << 30) | (size << 16) | (type_ << 8) | nr


def _req(nr: int) -> int:
    return iowr(DM_IOCTL, nr, DM_IOCTL_SIZE)


DM_VERSION = _req(DM_VERSION_CMD)
DM_REMOVE_ALL = _req(DM_REMOVE_ALL_CMD)
DM_LIST_DEVICES = _req(DM_LIST_DEVICES_CMD)
DM_DEV_CREATE = _req(DM_DEV_CREATE_CMD)
DM_DEV_REMOVE = _req(DM_DEV_REMOVE_CMD)
DM_DEV_RENAME = _req(DM_DEV_RENAME_CMD)
DM_DEV_SUSPEND = _req(DM_DEV_SUSPEND_CMD)
DM_DEV_STATUS = _req(DM_DEV_STATUS_CMD)
DM_DEV_WAIT = _req(DM_DEV_WAIT_CMD)
DM_TABLE_LOAD = _req(DM_TABLE_LOAD_CMD)
DM_TABLE_CLEAR = _req(DM_TABLE_CLEAR_CMD)
DM_TABLE_DEPS = _req(DM_TABLE_DEPS_CMD)
DM_TABLE_STATUS = _req(DM_TABLE_STATUS_CMD)
DM_LIST_VERSIONS = _req(DM_LIST_VERSIONS_CMD)
DM_TARGET_MSG = _req(DM_TARGET_MSG_CMD)
DM_DEV_SET_GEOMETRY = _req(DM_DEV_SET_GEOMETRY_CMD)


def encode_dev(major: int, minor: int) -> int:
    """The kernel's ``huge_encode_dev(MKDEV(major, minor))``, as in ``dm_ioctl.dev``."""
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def decode_dev(dev: int) -> Tuple[int, int]:
    """``(major, minor)`` from a ``dm_ioctl.dev`` value."""
    return (dev & 0xFFF00) >> 8, (dev & 0xFF) | ((dev >> 12) & 0xFFF00)


def _check_name(name: str) -> None:
    if len(name.encode("utf-8")) >= DM_NAME_LEN:
        raise ValueError(f"device name {name!r} is longer than {DM_NAME_LEN - 1} bytes")


def pack_ioctl(
    name: str = "",
    *,
    uuid: str = "",
    flags: int = 0,
    dev: int = 0,
    event_nr: int = 0,
    target_count: int = 0,
    payload: bytes = b"",
    data_size: Optional[int] = None,
) -> bytes:
    """A ``struct dm_ioctl`` followed by ``payload``.

    ``data_size`` defaults to the whole buffer; pass a larger value (and pad
    the buffer) for commands that return data (status, deps, list).
    """
    _check_name(name)
    if len(uuid.encode("utf-8")) >= DM_UUID_LEN:
        raise ValueError(f"uuid {uuid!r} is longer than {DM_UUID_LEN - 1} bytes")
    total = DM_IOCTL_SIZE + len(payload)
    size = total if data_size is None else max(data_size, total)
    head = DmIoctl.build(
        dict(
            version=[DM_VERSION_MAJOR, DM_VERSION_MINOR, DM_VERSION_PATCHLEVEL],
            data_size=size,
            data_start=DM_IOCTL_SIZE,
            target_count=target_count,
            open_count=0,
            flags=flags,
            event_nr=event_nr,
            dev=dev,
            name=name,
            uuid=uuid,
            data=bytes(7),
        )
    )
    return head + payload + bytes(size - total)


def pack_target_specs(entries: Iterable[TableEntry]) -> Tuple[bytes, int]:
    """The ``dm_target_spec`` + parameter string sequence of a ``DM_TABLE_LOAD``.

    Returns the bytes and the target count.  Each spec's ``next`` is the
    distance to the following spec, each parameter string NUL-terminated and
    padded so the next spec is 8-byte aligned (as libdevmapper lays it out).
    """
    out = bytearray()
    count = 0
    for e in entries:
        if len(e.target.encode("ascii")) >= DM_MAX_TYPE_NAME:
            raise ValueError(f"target type {e.target!r} is too long")
        params = join_args(e.args).encode("utf-8", "surrogateescape") + b"\0"
        body = DM_TARGET_SPEC_SIZE + len(params)
        padded = (body + _ALIGN - 1) // _ALIGN * _ALIGN
        out += DmTargetSpec.build(
            dict(
                sector_start=e.start,
                length=e.length,
                status=0,
                next=padded,
                target_type=e.target,
            )
        )
        out += params + bytes(padded - body)
        count += 1
    return bytes(out), count


def pack_table_load(name: str, entries: Iterable[TableEntry], *, flags: int = 0) -> bytes:
    """The buffer of a ``DM_TABLE_LOAD`` of ``entries`` into device ``name``."""
    specs, count = pack_target_specs(entries)
    return pack_ioctl(name, flags=flags, target_count=count, payload=specs)


def unpack_ioctl(buf: bytes) -> dict:
    """``struct dm_ioctl`` at the start of ``buf`` as a dict (construct Container)."""
    return DmIoctl.parse(bytes(buf[:DM_IOCTL_SIZE]))


def unpack_target_specs(buf: bytes, count: int, *, relative_next: bool = True) -> List[TableEntry]:
    """Read ``count`` target specs from ``buf`` (the data after the ``dm_ioctl``).

    ``relative_next``: ``next`` counts from the current spec (as in a load);
    false for ``DM_TABLE_STATUS`` replies, where it counts from the first spec.
    """
    entries = []
    pos = 0
    for _ in range(count):
        spec = DmTargetSpec.parse(bytes(buf[pos : pos + DM_TARGET_SPEC_SIZE]))
        p = pos + DM_TARGET_SPEC_SIZE
        end = bytes(buf).index(b"\0", p)
        params = bytes(buf[p:end]).decode("utf-8", "surrogateescape")
        entries.append(
            TableEntry(spec.sector_start, spec.length, spec.target_type, tuple(split_args(params)))
        )
        pos = pos + spec.next if relative_next else spec.next
    return entries
