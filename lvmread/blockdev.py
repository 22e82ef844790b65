"""Naming inputs as the kernel knows them: ``major:minor`` of the block device behind a Source.

A table meant for a real kernel names its devices by device number. A block-device input
(or a partition of one) has one; an image file has one only while a loop device is attached
to it, which is found through ``/sys/block/loop*/loop/backing_file``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ActivationError


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _partition_devno(sysdir: Path, start: int) -> str:
    """The ``dev`` of the partition of the disk at ``sysdir`` that starts at byte ``start``."""
    for child in sorted(sysdir.iterdir()):
        if (child / "partition").exists() and _read(child / "start") == str(start // 512):
            return _read(child / "dev")
    return ""


def devno(path: str, start: int, size: int, sysfs: str = "/sys") -> str:
    """``major:minor`` of the block device holding bytes ``[start, start+size)`` of ``path``.

    Raises :class:`ActivationError` when there is none (an image no loop device shows).
    """
    st = os.stat(path)
    sys_root = Path(sysfs)
    if stat.S_ISBLK(st.st_mode):
        mm = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        if start == 0:
            return mm
        found = _partition_devno(sys_root / "dev/block" / mm, start)
        if found:
            return found
        raise ActivationError(f"{path}: no partition of this device starts at byte {start}")
    real = os.path.realpath(path)
    for loop in sorted(sys_root.glob("block/loop*")):
        info = loop / "loop"
        if _read(info / "backing_file") != real:
            continue
        offset = int(_read(info / "offset") or 0)
        limit = int(_read(info / "sizelimit") or 0)
        if offset == start and limit in (0, size):
            return _read(loop / "dev")
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
    root = Path(sysfs, "dev/block")
    while todo and len(ids) < _MAX_BLOCK_DEVICES:
        mm = todo.pop()
        if not mm or ("blk", mm) in ids:
            continue
        ids.add(("blk", mm))
        try:
            real = (root / mm).resolve(strict=True)
        except OSError:
            continue  # no sysfs (or not this device): the device alone
        if (real / "partition").exists():
            todo.append(_read(real.parent / "dev"))
        try:
            children = list(real.iterdir())
        except OSError:
            children = []
        todo += [_read(c / "dev") for c in children if (c / "partition").exists()]
        backing = _read(real / "loop" / "backing_file")
        if backing:
            try:
                st = os.stat(backing)
                ids.add(("file", st.st_dev, st.st_ino))
            except OSError:
                pass
        try:
            todo += [_read(s.resolve() / "dev") for s in (real / "slaves").iterdir()]
        except OSError:
            pass
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
