"""A mapped device as a read-only, seekable raw binary file over its loaded table."""

from __future__ import annotations

import errno
import io
import os
from bisect import bisect_right
from typing import List, Tuple

from lvmread.dm.devices import Buffer
from lvmread.dm.mapping import Table
from lvmread.dm.table import SECTOR_SHIFT, TableEntry
from lvmread.dm.targets import DeviceRef, Target


def _fast_pread(fd: int, length: int, offset: int) -> bytes | None:
    """``length`` bytes with one pread, or None if that did not work out completely."""
    try:
        data = os.pread(fd, length, offset)
    except OSError:
        return None
    return data if len(data) == length else None


class MappedDevice(io.RawIOBase):
    """A mapped device as a read-only, seekable raw binary file.

    ``read``/``readinto`` advance the file position; ``pread``/``preadinto``
    take an offset and are safe to call from several threads at once.  Reads
    past the end come back short or empty, as from a file.  Closing the file
    object does not remove the mapping (see :meth:`DeviceMapper.remove`).
    """

    def __init__(self, name: str, major: int, minor: int, table: Table) -> None:
        super().__init__()
        self._name = name
        self.major = major
        self.minor = minor
        self.table = table
        self._pos = 0
        # readinto's shortcut: the FastRead of a table of one target (None once closed)
        self._fast1 = table.fast_readers[0] if len(table.targets) == 1 else None
        self._size1 = table.size

    def close(self) -> None:
        self._fast1 = None
        super().close()

    # identity -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The mapped device's name."""
        return self._name

    @property
    def devno(self) -> str:
        """The pseudo device number as a table token, e.g. ``"253:0"``."""
        return f"{self.major}:{self.minor}"

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self.table.size

    @property
    def sectors(self) -> int:
        """Size in 512-byte sectors."""
        return self.table.size >> SECTOR_SHIFT

    @property
    def targets(self) -> Tuple[Target, ...]:
        """The table's targets in sector order."""
        return self.table.targets

    def table_text(self) -> str:
        """The table as ``dmsetup table`` prints it, devices as the tokens given."""
        return self.table.text()

    def entries(self) -> List[TableEntry]:
        """The table as :class:`TableEntry` objects."""
        return self.table.entries()

    def devices(self) -> List[DeviceRef]:
        """The underlying devices, one entry per distinct device (``dmsetup deps``)."""
        return self.table.devices()

    def reopen(self) -> MappedDevice:
        """A new file object on the same mapping, with its own position.

        Closing either does not affect the other nor the mapping.
        """
        return MappedDevice(self._name, self.major, self.minor, self.table)

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<MappedDevice {self._name!r} {self.devno} {self.size} bytes{state}>"

    # io.RawIOBase ---------------------------------------------------------

    def readable(self) -> bool:
        self._check_closed()
        return True

    def seekable(self) -> bool:
        self._check_closed()
        return True

    def writable(self) -> bool:
        self._check_closed()
        return False

    def _check_closed(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")

    # The fast paths below serve a read that falls inside one target with the
    # target's FastRead (one os.preadv for a plain range of one file, such as
    # linear or stacked linear; one per stripe for striped), or one os.pread,
    # without going through the target and device objects; anything else, and
    # anything short or unusual, takes the general path through Table.

    def readinto(self, b: Buffer) -> int:
        pos = self._pos
        fast = self._fast1
        if fast is not None and type(b) is bytearray and pos >= 0:
            n = len(b)
            if pos + n <= self._size1:
                try:
                    if fast(b, pos, n):
                        self._pos = pos + n
                        return n
                except (OSError, BufferError, TypeError, ValueError):
                    pass
        n = self.preadinto(b, pos)
        self._pos = pos + n
        return n

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if size is None or size < 0:
            return self.readall()
        data = self.pread(size, self._pos)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        self._check_closed()
        return self.read(max(0, self.table.size - self._pos))

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._check_closed()
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self.table.size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if pos < 0:
            raise OSError(errno.EINVAL, f"negative seek position {pos}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        self._check_closed()
        return self._pos

    def write(self, b: Buffer) -> int:
        raise io.UnsupportedOperation("mapped devices are read-only")

    def truncate(self, size: int | None = None) -> int:
        raise io.UnsupportedOperation("mapped devices are read-only")

    # positional reads -----------------------------------------------------

    def preadinto(self, buf: Buffer, offset: int) -> int:
        """Fill ``buf`` from byte ``offset``; returns the count (short at the end)."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        tb = type(buf)
        if offset >= 0 and (tb is bytearray or (tb is memoryview and buf.contiguous)):
            t = self.table
            n = len(buf) if tb is bytearray else buf.nbytes
            i = bisect_right(t.starts, offset) - 1
            if i >= 0 and offset + n <= t.ends[i]:
                fast = t.fast_readers[i]
                if fast is not None:
                    try:
                        if fast(buf, offset - t.starts[i], n):
                            return n
                    except (OSError, BufferError, TypeError, ValueError):
                        pass
        return self.table.read_at(buf, offset)

    def error_ranges(self, offset: int = 0, length: int | None = None) -> List[Tuple[int, int]]:
        """The byte ranges within ``length`` bytes at ``offset`` (default: the whole
        device) whose reads fail because they map to ``error`` (for an LVM LV read with
        ``partial``: extents on missing PVs, or past the end of a truncated image), as
        sorted, disjoint ``(offset, length)`` pairs.  Lets a reader skip them instead of
        catching :class:`DMIOError` (a failing disk's real I/O errors are not foreseen)."""
        if length is None:
            length = self.table.size - offset
        return self.table.mapped_ranges("error", offset, length)

    def zero_ranges(self, offset: int = 0, length: int | None = None) -> List[Tuple[int, int]]:
        """Like :meth:`error_ranges`, the byte ranges that read as zeros because they map
        to ``zero`` (an LVM ``zero`` LV), without touching a disk."""
        if length is None:
            length = self.table.size - offset
        return self.table.mapped_ranges("zero", offset, length)

    def pread(self, length: int, offset: int) -> bytes:
        """Up to ``length`` bytes at byte ``offset`` (short at the end)."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if offset >= 0 and length >= 0:
            t = self.table
            i = bisect_right(t.starts, offset) - 1
            if i >= 0 and offset + length <= t.ends[i]:
                flat = t.flats[i]
                if flat is not None:
                    data = _fast_pread(flat[0].fd, length, flat[1] + offset - t.starts[i])
                    if data is not None:
                        return data
        return self.table.pread_at(length, offset)
