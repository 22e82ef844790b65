"""Underlying devices: what a target reads from.

A :class:`Device` is a size in bytes plus positional reads that fill a buffer
completely (the device mapper only reads inside a device, so a short read is an
error, not an end of file).  Implementations:

* :class:`FileDevice`: an image file, a region of one (a partition), or a block
  device; opened with ``os.open(path, os.O_RDONLY)``, never for writing, read
  with ``os.preadv``/``os.pread`` (positional: no shared file position, safe
  from several threads) and never buffered as a whole;
* :class:`ObjectDevice`: any object with ``size`` and ``preadinto(buf, offset)``
  or ``pread(length, offset)``;
* :class:`RegionDevice`: a byte range of another device;
* a mapped device's table (:class:`lvmread.dm.mapping.Table`), for stacking.

:func:`open_host_device` resolves a ``MAJOR:MINOR`` token through
``/sys/dev/block`` or opens a path, as the kernel's ``dm_get_device()`` does.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from abc import ABC, abstractmethod
from typing import Callable, List, Optional, Sequence, Tuple, Union

from lvmread.dm.errors import DMDeviceError, DMIOError
from lvmread.dm.table import SECTOR_SHIFT

#: the kernel's limit on iovecs per call (preadv refuses more)
try:
    IOV_MAX = max(1, min(1024, os.sysconf("SC_IOV_MAX")))
except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
    IOV_MAX = 16

_HAVE_PREADV = hasattr(os, "preadv")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)

#: flags every open of an underlying device uses: read-only, always
OPEN_FLAGS = os.O_RDONLY | _O_CLOEXEC | _O_BINARY


def _ior(type_: int, nr: int, size: int) -> int:
    """Linux ``_IOR``: 2 direction bits at bit 30, or 3 at bit 29 on ppc/mips/sparc/alpha."""
    if os.uname().machine.lower().startswith(("ppc", "powerpc", "mips", "sparc", "alpha")):
        return (2 << 29) | (size << 16) | (type_ << 8) | nr
    return (2 << 30) | (size << 16) | (type_ << 8) | nr


#: BLKGETSIZE64 = _IOR(0x12, 114, size_t): a block device's size in bytes
_BLKGETSIZE64 = _ior(0x12, 114, 8)

Buffer = Union[bytearray, memoryview]

#: ``read(buf, offset, n) -> bool``: fill ``buf`` (a bytearray or contiguous memoryview of
#: ``n`` bytes) from byte ``offset`` of a target with system calls on host files alone;
#: False (or an exception) when that did not work out, and the caller takes the general
#: path, which retries and reports errors.
FastRead = Callable[[Buffer, int, int], bool]


def flat_reader(dev: FileDevice, base: int) -> Optional[FastRead]:
    """A :data:`FastRead` for bytes of ``dev``'s file from byte ``base`` on (one ``preadv``)."""
    if not _HAVE_PREADV:  # pragma: no cover
        return None
    preadv = os.preadv

    def read(buf: Buffer, offset: int, n: int) -> bool:
        # the descriptor is looked up at each call: a closed device has fd -1 (EBADF)
        return preadv(dev._fd, (buf,), base + offset) == n

    return read

_DEVNO = re.compile(r"([0-9]+):([0-9]+)\Z")


_scratch = threading.local()
#: largest read served through the per-thread scratch buffer
_SCRATCH_MAX = 8 << 20


def merge_ranges(ranges: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Sorted ``(offset, length)`` pairs with touching or overlapping ones joined."""
    out: List[Tuple[int, int]] = []
    for o, n in sorted(ranges):
        if n <= 0:
            continue
        if out and o <= out[-1][0] + out[-1][1]:
            last_o, last_n = out[-1]
            out[-1] = (last_o, max(last_n, o + n - last_o))
        else:
            out.append((o, n))
    return out


def read_bytes(fill: Callable[[memoryview], None], length: int) -> bytes:
    """``length`` bytes as filled in by ``fill(buffer)``, as a new bytes object.

    Fills a per-thread scratch buffer and copies it out once: allocating a
    fresh bytearray for every large read and then a bytes copy of it makes the
    allocator map and unmap memory each time, which costs more than the read.
    """
    if length <= 0:
        return b""
    if length > _SCRATCH_MAX or getattr(_scratch, "busy", False):
        fresh = bytearray(length)
        fill(memoryview(fresh))
        return bytes(fresh)
    buf = getattr(_scratch, "buf", None)
    if buf is None or len(buf) < length:
        buf = _scratch.buf = bytearray(max(length, 1 << 20))
    _scratch.busy = True  # a fill that reads through pread again gets a fresh buffer
    try:
        mv = memoryview(buf)[:length]
        fill(mv)
        return bytes(mv)
    finally:
        _scratch.busy = False


class Device(ABC):
    """An underlying device: a size and positional, buffer-filling reads."""

    #: how the device is named in messages
    name: str = "?"
    #: how many mapped devices are stacked below (0 for files and block devices)
    depth: int = 0

    @property
    @abstractmethod
    def size(self) -> int:
        """Size in bytes."""

    @abstractmethod
    def preadinto(self, buf: Buffer, offset: int) -> None:
        """Fill ``buf`` with the bytes at ``offset``; raise :class:`DMIOError` if short."""

    def preadv(self, bufs: Sequence[Buffer], offset: int) -> None:
        """Fill ``bufs`` one after the other from the contiguous bytes at ``offset``.

        Buffers are byte buffers (``len()`` counts bytes): bytearrays or
        memoryviews of format ``B``.
        """
        for b in bufs:
            self.preadinto(b, offset)
            offset += len(b)

    def pread(self, length: int, offset: int) -> bytes:
        """``length`` bytes at ``offset`` as a new bytes object."""
        return read_bytes(lambda buf: self.preadinto(buf, offset), length)

    @property
    def sectors(self) -> int:
        """Size in whole 512-byte sectors (as the kernel's ``bdev_nr_sectors``)."""
        return self.size >> SECTOR_SHIFT

    def flat_range(self, offset: int, length: int) -> Optional[Tuple[FileDevice, int]]:
        """``(file device, byte offset in its file)`` if these bytes are one contiguous
        range of one file, else None.  Lets mapped devices read linear mappings
        (stacked ones too) with a single system call."""
        return None

    def mapped_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        """The parts of these bytes whose reads the mapping itself answers, without
        touching a disk: ``kind`` ``"error"`` (reads fail: the ``error`` target, a missing
        device) or ``"zero"`` (reads give zeros: the ``zero`` target), as sorted, disjoint
        ``(offset, length)`` pairs.  Files, block devices and objects have none (a real
        I/O error is not foreseen here)."""
        return []

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release what the device holds (a file descriptor); idempotent."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} size={self.size}>"


def _blockdev_size(fd: int) -> int:
    """Size in bytes of the block device open on ``fd``."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size > 0:
        return size
    try:  # some drivers do not support seeking to the end
        import fcntl
        import struct

        buf = fcntl.ioctl(fd, _BLKGETSIZE64, b"\0" * 8)
        return struct.unpack("=Q", buf)[0]
    except (ImportError, OSError):
        return size


class FileDevice(Device):
    """An image file, a region of it, or a block device, opened read-only.

    ``start`` and ``size`` (bytes) select a region, e.g. a partition inside a
    disk image; ``size`` defaults to the rest of the file.  The file is opened
    with ``os.open(path, os.O_RDONLY)`` and read with ``os.preadv`` straight
    into the caller's buffer.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        *,
        start: int = 0,
        size: int | None = None,
        name: str | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.name = name if name is not None else str(self.path)
        self._fd = -1
        if start < 0:
            raise DMDeviceError(f"{self.name}: negative region start {start}")
        if size is not None and size < 0:
            raise DMDeviceError(f"{self.name}: negative region size {size}")
        try:
            fd = os.open(self.path, OPEN_FLAGS)
        except OSError as e:
            raise DMDeviceError(f"{self.name}: cannot open: {e.strerror}") from e
        try:
            st = os.fstat(fd)
            if stat.S_ISBLK(st.st_mode):
                total = _blockdev_size(fd)
                self.rdev: Tuple[int, int] | None = (os.major(st.st_rdev), os.minor(st.st_rdev))
            elif stat.S_ISREG(st.st_mode):
                total = st.st_size
                self.rdev = None
            else:
                raise DMDeviceError(f"{self.name}: not a regular file or block device")
            if size is None:
                size = total - start
            if start + size > total or size < 0:
                raise DMDeviceError(
                    f"{self.name}: region {start}+{size} bytes is past the end "
                    f"of {self.path} ({total} bytes)"
                )
        except OSError as e:
            os.close(fd)
            raise DMDeviceError(f"{self.name}: cannot read: {e.strerror}") from e
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.start = start
        self._size = size
        self.total_size = total

    @property
    def size(self) -> int:
        return self._size

    @property
    def fd(self) -> int:
        """The read-only file descriptor (-1 once closed)."""
        return self._fd

    def flat_range(self, offset: int, length: int) -> Optional[Tuple[FileDevice, int]]:
        return self, self.start + offset

    def _short(self, offset: int, wanted: int, got: int) -> DMIOError:
        return DMIOError(
            f"{self.name}: short read at byte {offset}: {got} of {wanted} bytes "
            "(file truncated while open?)"
        )

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or offset + length > self._size:
            raise DMIOError(
                f"{self.name}: read of {length} bytes at {offset} is outside the "
                f"device ({self._size} bytes)"
            )

    if _HAVE_PREADV:

        def preadinto(self, buf: Buffer, offset: int) -> None:
            length = len(buf)
            if offset < 0 or offset + length > self._size:
                self._check(offset, length)
            pos = self.start + offset
            got = os.preadv(self._fd, [buf], pos)
            if got == length:
                return
            mv = memoryview(buf).cast("B")
            done = 0
            while True:
                if got <= 0:
                    raise self._short(offset, length, done)
                done += got
                if done == length:
                    return
                got = os.preadv(self._fd, [mv[done:]], pos + done)

        def preadv(self, bufs: Sequence[Buffer], offset: int) -> None:
            total = sum(map(len, bufs))
            self._check(offset, total)
            pos = self.start + offset
            if len(bufs) <= IOV_MAX and os.preadv(self._fd, bufs, pos) == total:
                return
            # more buffers than one call takes, or a short read: go piece by piece
            mvs = [memoryview(b).cast("B") for b in bufs]
            done = 0
            i = 0
            while i < len(mvs):
                batch = mvs[i : i + IOV_MAX]
                want = sum(map(len, batch))
                got = os.preadv(self._fd, batch, pos)
                if got <= 0 and want:
                    raise self._short(offset, total, done)
                pos += got
                done += got
                if got == want:
                    i += len(batch)
                    continue
                # partial: skip the filled buffers, trim the partly filled one
                while got >= len(mvs[i]):
                    got -= len(mvs[i])
                    i += 1
                mvs[i] = mvs[i][got:]

    else:  # pragma: no cover - platforms without preadv

        def preadinto(self, buf: Buffer, offset: int) -> None:
            length = len(buf)
            self._check(offset, length)
            mv = memoryview(buf).cast("B")
            done = 0
            while done < length:
                data = os.pread(self._fd, length - done, self.start + offset + done)
                if not data:
                    raise self._short(offset, length, done)
                mv[done : done + len(data)] = data
                done += len(data)

    def pread(self, length: int, offset: int) -> bytes:
        self._check(offset, length)
        data = os.pread(self._fd, length, self.start + offset)
        if len(data) == length:
            return data
        buf = bytearray(length)
        buf[: len(data)] = data
        self.preadinto(memoryview(buf)[len(data) :], offset + len(data))
        return bytes(buf)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class RegionDevice(Device):
    """``size`` bytes of another device from byte ``start`` on."""

    def __init__(
        self, parent: Device, start: int, size: int | None = None, name: str | None = None
    ) -> None:
        if size is None:
            size = parent.size - start
        if start < 0 or size < 0 or start + size > parent.size:
            raise DMDeviceError(
                f"{name or parent.name}: region {start}+{size} bytes is past the end "
                f"of {parent.name} ({parent.size} bytes)"
            )
        self.parent = parent
        self.start = start
        self._size = size
        self.name = name if name is not None else f"{parent.name}@{start}"
        self.depth = parent.depth

    @property
    def size(self) -> int:
        return self._size

    def preadinto(self, buf: Buffer, offset: int) -> None:
        if offset < 0 or offset + len(buf) > self._size:
            raise DMIOError(f"{self.name}: read outside the region")
        self.parent.preadinto(buf, self.start + offset)

    def preadv(self, bufs: Sequence[Buffer], offset: int) -> None:
        self.parent.preadv(bufs, self.start + offset)

    def flat_range(self, offset: int, length: int) -> Optional[Tuple[FileDevice, int]]:
        return self.parent.flat_range(self.start + offset, length)

    def mapped_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        start = self.start
        return [(o - start, n) for o, n in self.parent.mapped_ranges(kind, start + offset, length)]


class ObjectDevice(Device):
    """Adapts an object with ``size`` and ``preadinto(buf, offset)`` or ``pread(len, offset)``."""

    def __init__(self, obj: object, name: str) -> None:
        if not hasattr(obj, "size") or not (hasattr(obj, "preadinto") or hasattr(obj, "pread")):
            raise DMDeviceError(f"{name}: a device object needs a size and preadinto() or pread()")
        self.obj = obj
        self.name = name
        self.depth = int(getattr(obj, "depth", 0))

    @property
    def size(self) -> int:
        return int(self.obj.size)  # type: ignore[attr-defined]

    def preadinto(self, buf: Buffer, offset: int) -> None:
        length = len(buf)
        if offset < 0 or offset + length > self.size:
            raise DMIOError(f"{self.name}: read outside the device")
        fn = getattr(self.obj, "preadinto", None)
        if fn is not None:
            got = fn(buf, offset)
            if got is not None and got != length:
                raise DMIOError(f"{self.name}: short read at byte {offset}")
            return
        data = self.obj.pread(length, offset)  # type: ignore[attr-defined]
        if len(data) != length:
            raise DMIOError(f"{self.name}: short read at byte {offset}")
        memoryview(buf).cast("B")[:] = data

    def pread(self, length: int, offset: int) -> bytes:
        fn = getattr(self.obj, "pread", None)
        if fn is None:
            return super().pread(length, offset)
        if offset < 0 or offset + length > self.size:
            raise DMIOError(f"{self.name}: read outside the device")
        data = bytes(fn(length, offset))
        if len(data) != length:
            raise DMIOError(f"{self.name}: short read at byte {offset}")
        return data


def parse_devno(token: str) -> Tuple[int, int] | None:
    """``(major, minor)`` if ``token`` is ``MAJOR:MINOR`` (decimal), else None.

    Like the kernel's ``sscanf(path, "%u:%u%c")`` test in ``dm_devt_from_path()``.
    """
    m = _DEVNO.match(token)
    if not m:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if major >= 1 << 12 or minor >= 1 << 20:  # MKDEV would overflow
        return None
    return major, minor


def sysfs_devnode(major: int, minor: int, sysfs: str = "/sys") -> str:
    """The /dev path of block device ``major:minor``, found through ``/sys/dev/block``."""
    base = os.path.join(sysfs, "dev", "block", f"{major}:{minor}")
    devname: str | None = None
    try:
        with open(os.path.join(base, "uevent"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("DEVNAME="):
                    devname = line[len("DEVNAME=") :].strip()
                    break
    except OSError:
        pass
    if not devname:
        try:
            devname = os.path.basename(os.readlink(base))
        except OSError as e:
            raise DMDeviceError(f"{major}:{minor}: no such block device") from e
    return devname if devname.startswith("/") else os.path.join("/dev", devname)


def open_host_device(token: str, *, sysfs: str = "/sys") -> FileDevice:
    """Open the host's device named by a table token, read-only.

    ``MAJOR:MINOR`` is looked up in ``/sys/dev/block``; anything else is taken
    as a path to an image file or block device.
    """
    devno = parse_devno(token)
    if devno is None:
        if not os.path.exists(token):
            raise DMDeviceError(f"{token}: no such device, file or mapped device")
        return FileDevice(token, name=token)
    path = sysfs_devnode(*devno, sysfs=sysfs)
    dev = FileDevice(path, name=token)
    if dev.rdev is not None and dev.rdev != devno:
        dev.close()
        raise DMDeviceError(f"{token}: {path} is device {dev.rdev[0]}:{dev.rdev[1]}")
    return dev


__all__: List[str] = [
    "Device",
    "FileDevice",
    "RegionDevice",
    "ObjectDevice",
    "OPEN_FLAGS",
    "parse_devno",
    "sysfs_devnode",
    "open_host_device",
]
