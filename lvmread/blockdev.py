"""Naming inputs as the kernel knows them: ``major:minor`` of the block device behind a Source.

A table meant for a real kernel names its devices by device number. A block-device input
(or a partition of one) has one; an image file has one only while a loop device is attached
to it, which is found through ``/sys/block/loop*/loop/backing_file``.
"""

from __future__ import annotations

import glob
import os
import stat

from .errors import ActivationError

_join = os.path.join


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _children(sysdir: str) -> list[str]:
    try:
        return sorted(_join(sysdir, c) for c in os.listdir(sysdir))
    except OSError:
        return []


def _partition_devno(sysdir: str, start: int) -> str:
    """The ``dev`` of the partition of the disk at ``sysdir`` that starts at byte ``start``."""
    for child in _children(sysdir):
        if os.path.exists(_join(child, "partition")) and _read(_join(child, "start")) == str(
            start // 512
        ):
            return _read(_join(child, "dev"))
    return ""


def devno(path: str, start: int, size: int, sysfs: str = "/sys") -> str:
    """``major:minor`` of the block device holding bytes ``[start, start+size)`` of ``path``.

    Raises :class:`ActivationError` when there is none (an image no loop device shows).
    """
    st = os.stat(path)
    if stat.S_ISBLK(st.st_mode):
        mm = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        if start == 0:
            return mm
        found = _partition_devno(_join(sysfs, "dev/block", mm), start)
        if found:
            return found
        raise ActivationError(f"{path}: no partition of this device starts at byte {start}")
    real = os.path.realpath(path)
    for loop in sorted(glob.glob(_join(glob.escape(sysfs), "block/loop*"))):
        info = _join(loop, "loop")
        if _read(_join(info, "backing_file")) != real:
            continue
        offset = int(_read(_join(info, "offset")) or 0)
        limit = int(_read(_join(info, "sizelimit")) or 0)
        if offset == start and limit in (0, size):
            return _read(_join(loop, "dev"))
        if offset == 0 and start > 0:
            found = _partition_devno(loop, start)
            if found:
                return found
    region = f" -o {start} --sizelimit {size}" if start else ""
    raise ActivationError(
        f"{path}: no block device shows bytes {start}-{start + size - 1} of this image; "
        f"attach it first (losetup -r -f --show{region} {path})"
    )


#: how many block devices one storage closure may visit (sysfs loops are not expected)
_MAX_BLOCK_DEVICES = 4096


def block_storage(devno_: str, sysfs: str = "/sys") -> set[tuple]:
    """Where the block device ``MAJOR:MINOR`` keeps its bytes, as sysfs tells: the device,
    the disk it is a partition of and that disk's other partitions (one disk), the file
    behind a loop device, and the devices under a device-mapper, md or other stacked
    device (``slaves``), each of those in turn.  Members are ``("blk", "M:m")`` and
    ``("file", st_dev, st_ino)``."""
    ids: set[tuple] = set()
    todo = [devno_]
    while todo and len(ids) < _MAX_BLOCK_DEVICES:
        mm = todo.pop()
        if not mm or ("blk", mm) in ids:
            continue
        ids.add(("blk", mm))
        real = os.path.realpath(_join(sysfs, "dev/block", mm))
        if not os.path.isdir(real):
            continue  # no sysfs (or not this device): the device alone
        if os.path.exists(_join(real, "partition")):
            todo.append(_read(_join(os.path.dirname(real), "dev")))
        todo += [
            _read(_join(c, "dev")) for c in _children(real) if os.path.exists(_join(c, "partition"))
        ]
        backing = _read(_join(real, "loop", "backing_file"))
        if backing:
            try:
                st = os.stat(backing)
                ids.add(("file", st.st_dev, st.st_ino))
            except OSError:
                pass
        todo += [_read(_join(os.path.realpath(s), "dev")) for s in _children(_join(real, "slaves"))]
    return ids


def storage(st: os.stat_result, sysfs: str = "/sys", *, as_output: bool = False) -> set[tuple]:
    """Where the file or device with status ``st`` keeps its bytes (see
    :func:`block_storage`). For an output file, also the block device of its file system:
    a file written on a file system of an input disk changes that disk."""
    if stat.S_ISBLK(st.st_mode):
        return block_storage(f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}", sysfs)
    ids: set[tuple] = {("file", st.st_dev, st.st_ino)}
    if as_output and stat.S_ISREG(st.st_mode):
        fs = block_storage(f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}", sysfs)
        ids |= {i for i in fs if i[0] == "blk"}
    return ids
