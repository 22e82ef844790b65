"""Mapped devices and the registry that makes them: the userspace device mapper.

:class:`DeviceMapper` plays the kernel's part: it holds named underlying
devices the caller registers, opens host devices a table names (read-only),
builds and validates tables (:func:`build_table`) and hands out
:class:`MappedDevice` objects, each with a pseudo device number
``253:N`` by which, or by whose name, later tables can stack on it.

A :class:`MappedDevice` is a read-only, seekable raw binary file
(:class:`io.RawIOBase`) over its :class:`Table`; reads go straight from the
underlying devices into the caller's buffer.
"""

from __future__ import annotations

import errno
import io
import os
import re
from bisect import bisect_right
from typing import Dict, Iterable, Iterator, List, Sequence, Tuple, Union

from lvmread.dm.devices import (
    Buffer,
    Device,
    FileDevice,
    ObjectDevice,
    RegionDevice,
    merge_ranges,
    open_host_device,
    parse_devno,
)
from lvmread.dm.errors import DMDeviceError, DMError, DMIOError, DMTableError
from lvmread.dm.table import (
    MAX_SECTORS,
    SECTOR_SHIFT,
    TableEntry,
    format_table,
    parse_table,
)
from lvmread.dm.targets import DeviceLookup, DeviceRef, Target, TargetContext, lookup_target

#: major number of the pseudo device numbers (the usual device-mapper major)
DM_MAJOR = 253
#: how many mapped devices may be stacked on each other
MAX_STACK_DEPTH = 16
#: the kernel's DM_NAME_LEN, including the terminating NUL
DM_NAME_LEN = 128

TableSource = Union[str, Iterable[TableEntry]]


class Table(Device):
    """A loaded, validated table: its targets in sector order.

    Also a :class:`Device`, which is how a mapped device serves as an
    underlying device of another (stacking).  Reads are positional and
    thread-safe.
    """

    def __init__(self, targets: Sequence[Target], name: str | None = None) -> None:
        if not targets:
            raise DMTableError("no targets in table", device=name)
        self.targets: Tuple[Target, ...] = tuple(targets)
        self.name = name if name is not None else "?"
        self._starts = [t.begin << SECTOR_SHIFT for t in self.targets]
        self._ends = [(t.begin + t.length) << SECTOR_SHIFT for t in self.targets]
        self._size = self._ends[-1]
        self._single = self.targets[0] if len(self.targets) == 1 else None
        #: per target: (file device, byte offset) when it is one range of one file
        self._flat = [t.flat() for t in self.targets]
        self.is_flat = all(f is not None for f in self._flat)
        #: per target: its FastRead (system calls only), or None
        self._fast = [t.fast_reader() for t in self.targets]
        below = [r.device.depth for t in self.targets for r in t.devices()]
        self.depth = 1 + max(below, default=0)

    @property
    def size(self) -> int:
        return self._size

    def entries(self) -> List[TableEntry]:
        """The table as entries, with arguments as ``dmsetup table`` prints them."""
        return [TableEntry(t.begin, t.length, t.name, tuple(t.args())) for t in self.targets]

    def text(self) -> str:
        """The table as ``dmsetup table`` prints it."""
        return format_table(self.entries())

    def devices(self) -> List[DeviceRef]:
        """Underlying devices of all targets (one entry per distinct device)."""
        refs: List[DeviceRef] = []
        seen = set()
        for t in self.targets:
            for r in t.devices():
                if id(r.device) not in seen:
                    seen.add(id(r.device))
                    refs.append(r)
        return refs

    def target_at(self, sector: int) -> Target:
        """The target that maps ``sector``."""
        if not 0 <= sector < self._size >> SECTOR_SHIFT:
            raise IndexError(f"sector {sector} is outside {self.name}")
        return self.targets[bisect_right(self._starts, sector << SECTOR_SHIFT) - 1]

    def _io_error(self, e: OSError, offset: int) -> DMIOError:
        return DMIOError(
            f"I/O error: {e.strerror or e}", device=self.name, sector=offset >> SECTOR_SHIFT
        )

    def preadinto(self, buf: Buffer, offset: int) -> None:
        length = len(buf)
        if offset < 0 or offset + length > self._size:
            raise DMIOError(
                f"read of {length} bytes at byte {offset} is outside the device "
                f"({self._size} bytes)",
                device=self.name,
            )
        try:
            t = self._single
            if t is not None:
                t.preadinto(buf, offset)
                return
            i = bisect_right(self._starts, offset) - 1
            end = offset + length
            if end <= self._ends[i]:
                self.targets[i].preadinto(buf, offset - self._starts[i])
                return
            mv = memoryview(buf).cast("B")
            pos = offset
            out = 0
            while pos < end:
                seg = min(end, self._ends[i]) - pos
                self.targets[i].preadinto(mv[out : out + seg], pos - self._starts[i])
                pos += seg
                out += seg
                i += 1
        except DMIOError as e:
            if e.device is None:  # an underlying device's error: say which mapped device
                e.device = self.name
            raise
        except DMError:
            raise
        except OSError as e:
            raise self._io_error(e, offset) from e

    def pread(self, length: int, offset: int) -> bytes:
        i = bisect_right(self._starts, offset) - 1
        if 0 <= i and offset + length <= self._ends[i] and length >= 0:
            try:
                return self.targets[i].pread(length, offset - self._starts[i])
            except DMIOError as e:
                if e.device is None:
                    e.device = self.name
                raise
            except DMError:
                raise
            except OSError as e:
                raise self._io_error(e, offset) from e
        return super().pread(length, offset)

    def flat_range(self, offset: int, length: int) -> tuple[FileDevice, int] | None:
        i = bisect_right(self._starts, offset) - 1
        if i < 0 or offset + length > self._ends[i]:
            return None
        flat = self._flat[i]
        if flat is None:
            return None
        return flat[0], flat[1] + offset - self._starts[i]

    def mapped_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        """The parts of these bytes whose reads the mapping answers (``kind`` ``"error"``
        or ``"zero"``; also in devices stacked below), as sorted, disjoint pairs."""
        end = min(offset + length, self._size)
        offset = max(offset, 0)
        if offset >= end:
            return []
        out: List[Tuple[int, int]] = []
        i = bisect_right(self._starts, offset) - 1
        while i < len(self.targets) and self._starts[i] < end:
            t0 = self._starts[i]
            a, b = max(offset, t0), min(end, self._ends[i])
            out += [(t0 + o, n) for o, n in self.targets[i].mapped_ranges(kind, a - t0, b - a)]
            i += 1
        return merge_ranges(out)

    def read_at(self, buf: Buffer, offset: int) -> int:
        """File-like positional read: fill ``buf`` from ``offset``, short at the end.

        Returns the number of bytes read (0 at or past the end).
        """
        if offset < 0:
            raise ValueError(f"negative offset {offset}")
        if type(buf) is not bytearray:  # len() must count bytes
            buf = memoryview(buf).cast("B")
        n = min(len(buf), self._size - offset)
        if n <= 0:
            return 0
        self.preadinto(buf if n == len(buf) else memoryview(buf)[:n], offset)
        return n

    def pread_at(self, length: int, offset: int) -> bytes:
        """File-like positional read: up to ``length`` bytes at ``offset`` (short at the end)."""
        if offset < 0:
            raise ValueError(f"negative offset {offset}")
        n = min(length, self._size - offset)
        if n <= 0:
            return b""
        return self.pread(n, offset)

    def close(self) -> None:
        for t in self.targets:
            t.close()

    def __repr__(self) -> str:
        return f"<Table {self.name!r} {len(self.targets)} targets, {self._size} bytes>"


def build_table(
    entries: Iterable[TableEntry],
    lookup: DeviceLookup | None,
    *,
    name: str | None = None,
    max_depth: int = MAX_STACK_DEPTH,
) -> Table:
    """Build and validate a table from entries, as the kernel's table load does.

    Checks, each failing with a :class:`DMTableError` naming the line: targets
    are contiguous from sector 0 (no gap, no overlap), lengths are non-zero and
    the end fits ``LLONG_MAX >> 9``, the target type is known, its arguments
    are valid (the target's constructor), every device area lies inside its
    device (the kernel's ``device_area_is_invalid``), and stacking is no
    deeper than ``max_depth``.  ``lookup`` resolves device tokens.
    """
    targets: List[Target] = []
    expected = 0
    try:
        for index, e in enumerate(entries, start=1):
            line = e.line if e.line is not None else index

            def err(msg: str, e: TableEntry = e, line: int = line) -> DMTableError:
                return DMTableError(msg, device=name, line=line, target=e.target)

            if e.length == 0:
                raise err("zero-length target")
            if e.start + e.length > MAX_SECTORS:
                raise err("too large device: end of target past LLONG_MAX >> 9 sectors")
            if e.start != expected:
                if not targets and e.start:
                    raise err(f"gap in table: first target starts at sector {e.start}, not 0")
                if e.start > expected:
                    raise err(
                        f"gap in table: target starts at sector {e.start}, "
                        f"previous target ends at sector {expected}"
                    )
                raise err(
                    f"target overlaps the previous one: starts at sector {e.start}, "
                    f"previous target ends at sector {expected}"
                )
            cls = lookup_target(e.target)
            if cls is None:
                raise err("unknown target type")
            ctx = TargetContext(
                target=e.target,
                begin=e.start,
                length=e.length,
                args=e.args,
                lookup=lookup,
                line=line,
                md_name=name,
            )
            t = cls(ctx)
            targets.append(t)
            for area in t.device_areas():
                dev = area.ref.device
                dev_size = dev.sectors
                if area.start >= dev_size or area.start + area.length > dev_size:
                    raise ctx.error(
                        f"device too small for target: start={area.start}, "
                        f"len={area.length}, dev_size={dev_size} sectors",
                        area.ref.arg_index,
                    )
                if dev.depth + 1 > max_depth:
                    raise ctx.error(
                        f"stacking too deep: more than {max_depth} mapped devices",
                        area.ref.arg_index,
                    )
            expected = e.start + e.length
        if not targets:
            raise DMTableError("no targets in table", device=name)
        return Table(targets, name)
    except BaseException:
        for t in targets:
            t.close()
        raise


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
        self._fast1 = table._fast[0] if len(table.targets) == 1 else None
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
            i = bisect_right(t._starts, offset) - 1
            if i >= 0 and offset + n <= t._ends[i]:
                fast = t._fast[i]
                if fast is not None:
                    try:
                        if fast(buf, offset - t._starts[i], n):
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
            i = bisect_right(t._starts, offset) - 1
            if i >= 0 and offset + length <= t._ends[i]:
                flat = t._flat[i]
                if flat is not None:
                    data = _fast_pread(flat[0]._fd, length, flat[1] + offset - t._starts[i])
                    if data is not None:
                        return data
        return self.table.pread_at(length, offset)


_BAD_NAME = re.compile(r"[/\x00]")


def _check_name(name: str, what: str, max_bytes: int | None = DM_NAME_LEN - 1) -> None:
    if not isinstance(name, str) or not name:
        raise DMError(f"{what} name must be a non-empty string")
    if _BAD_NAME.search(name) or name in (".", ".."):
        raise DMError(f"{what} name {name!r} may not contain '/' or NUL, nor be . or ..")
    if max_bytes is not None and len(name.encode("utf-8", "surrogateescape")) > max_bytes:
        raise DMError(f"{what} name {name!r} is longer than {max_bytes} bytes")
    if parse_devno(name) is not None:
        raise DMError(f"{what} name {name!r} looks like a device number")


def _check_token(name: str) -> None:
    """A registered device's name is a table token: any text a path can be (a table line
    writes it escaped, :func:`~lvmread.dm.table.escape_arg`) but a device number."""
    if not isinstance(name, str) or not name:
        raise DMError("device name must be a non-empty string")
    if "\x00" in name:
        raise DMError(f"device name {name!r} may not contain NUL")
    if parse_devno(name) is not None:
        raise DMError(f"device name {name!r} looks like a device number")


class DeviceMapper:
    """The set of mapped devices plus the block devices they map onto.

    * :meth:`add_device` registers an underlying device under a name a table
      can use (an image file, a region of one, or an object with ``size`` and
      ``pread``/``preadinto``);
    * :meth:`create` builds a mapped device from a table; it gets the pseudo
      device number ``253:N`` and later tables can name it by its name or
      that number (stacking, at most ``max_depth`` deep; a table can only name
      devices that already exist, so there are no cycles);
    * any other token is, if ``host_devices`` is true, ``MAJOR:MINOR`` of a
      host block device (through ``/sys/dev/block``) or a path, opened
      read-only and shared between tables (closed when no mapped device uses
      it any more).  ``MAJOR:MINOR`` with the pseudo major ``major`` only
      ever means a mapped device here, never a host device.

    Pseudo minors are allocated lowest-free first, like the kernel's.  A
    mapped device or registered device in use by another mapped device
    cannot be removed.

    Use as a context manager, or call :meth:`close`, to close everything opened.
    """

    def __init__(
        self,
        *,
        major: int = DM_MAJOR,
        max_depth: int = MAX_STACK_DEPTH,
        host_devices: bool = True,
        sysfs: str = "/sys",
        max_name_bytes: int | None = DM_NAME_LEN - 1,
    ) -> None:
        self.major = major
        self.max_name_bytes = max_name_bytes
        """Longest mapped device name, in bytes: the kernel's by default; None for no bound
        (names that only this process uses need not fit a kernel)."""
        self.max_depth = max_depth
        self.host_devices = host_devices
        self.sysfs = sysfs
        self._registered: Dict[str, Device] = {}
        self._mapped: Dict[str, MappedDevice] = {}
        self._minors: set = set()  # the pseudo minors in use
        self._lowest_free = 0  # no minor below this is free
        self._host: Dict[object, Device] = {}
        self._closed = False

    # underlying devices ----------------------------------------------------

    def add_device(
        self,
        name: str,
        source: Union[str, os.PathLike, Device, object],
        *,
        start: int = 0,
        size: int | None = None,
    ) -> Device:
        """Register an underlying device that tables can name by ``name``.

        ``source`` is a path (opened read-only; ``start``/``size`` in bytes
        select a region such as a partition), a :class:`Device`, or an object
        with ``size`` and ``preadinto(buf, offset)`` or ``pread(length, offset)``.
        """
        self._check_open()
        _check_token(name)
        if name in self._registered or name in self._mapped:
            raise DMError(f"device name {name!r} is already in use")
        if isinstance(source, (str, os.PathLike)):
            dev: Device = FileDevice(source, start=start, size=size, name=name)
        else:
            base = source if isinstance(source, Device) else ObjectDevice(source, name)
            if start or size is not None:
                dev = RegionDevice(base, start, size, name=name)
            else:
                dev = base
        self._registered[name] = dev
        return dev

    def remove_device(self, name: str) -> None:
        """Unregister (and close) a device added with :meth:`add_device`."""
        dev = self._registered.get(name)
        if dev is None:
            raise DMError(f"no registered device {name!r}")
        holders = self._holders(dev)
        if holders:
            raise DMError(f"device {name!r} is in use by {', '.join(holders)}")
        del self._registered[name]
        dev.close()

    def lookup(self, token: str) -> Device:
        """The device a table token names (opening a host device if need be).

        Order: a registered device name, a mapped device name or pseudo
        device number, then (with ``host_devices``) ``MAJOR:MINOR`` of a host
        block device or a path.  ``MAJOR:MINOR`` with the pseudo major never
        resolves to a host device (name such a host device by its path).
        """
        self._check_open()
        dev = self._registered.get(token)
        if dev is not None:
            return dev
        md = self._mapped.get(token)
        if md is not None:
            return md.table
        devno = parse_devno(token)
        if devno is not None and devno[0] == self.major:
            for md in self._mapped.values():
                if md.minor == devno[1]:
                    return md.table
            # the pseudo major shadows the host's: never open a host device by it
            raise DMDeviceError(f"{token}: no such mapped device")
        if not self.host_devices:
            raise DMDeviceError(f"{token}: no such registered or mapped device")
        if devno is not None:
            key: object = ("devno", devno)
        else:
            try:
                st = os.stat(token)
            except (OSError, ValueError) as e:  # (ValueError: a NUL in the token)
                raise DMDeviceError(f"{token}: no such device, file or mapped device") from e
            key = ("file", st.st_dev, st.st_ino)
        dev = self._host.get(key)
        if dev is None:
            dev = open_host_device(token, sysfs=self.sysfs)
            self._host[key] = dev
        return dev

    # mapped devices --------------------------------------------------------

    def create(self, name: str, table: TableSource) -> MappedDevice:
        """Create mapped device ``name`` from a table (text or entries) and return it."""
        self._check_open()
        _check_name(name, "mapped device", self.max_name_bytes)
        if name in self._mapped:
            raise DMError(f"mapped device {name!r} already exists")
        if name in self._registered:
            raise DMError(f"name {name!r} is already a registered device")
        try:
            entries = parse_table(table) if isinstance(table, str) else list(table)
        except DMError as e:
            if e.device is None:
                e.device = name
            raise
        try:
            built = build_table(entries, self.lookup, name=name, max_depth=self.max_depth)
        except BaseException:
            self._release_host()
            raise
        md = MappedDevice(name, self.major, self._free_minor(), built)
        self._mapped[name] = md
        self._minors.add(md.minor)
        return md

    def get(self, name: str) -> MappedDevice:
        """The mapped device called ``name`` (or with pseudo device number ``name``)."""
        md = self._mapped.get(name)
        if md is None:
            devno = parse_devno(name)
            if devno is not None and devno[0] == self.major:
                md = next((m for m in self._mapped.values() if m.minor == devno[1]), None)
        if md is None:
            raise KeyError(name)
        return md

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        try:
            self.get(name)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._mapped))

    def __len__(self) -> int:
        return len(self._mapped)

    def remove(self, name: str) -> None:
        """Remove a mapped device (refused while another mapped device uses it)."""
        md = self.get(name)
        holders = self._holders(md.table)
        if holders:
            raise DMError(f"mapped device {md.name!r} is in use by {', '.join(holders)}")
        del self._mapped[md.name]
        self._minors.discard(md.minor)
        self._lowest_free = min(self._lowest_free, md.minor)
        md.close()
        md.table.close()
        self._release_host()

    # lifetime ----------------------------------------------------------------

    def close(self) -> None:
        """Remove every mapped device and close every device opened or registered."""
        if self._closed:
            return
        self._closed = True
        for md in reversed(list(self._mapped.values())):
            md.close()
            md.table.close()
        self._mapped.clear()
        self._minors.clear()
        self._lowest_free = 0
        for dev in list(self._host.values()) + list(self._registered.values()):
            dev.close()
        self._host.clear()
        self._registered.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> DeviceMapper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # internals ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise DMError("device mapper is closed")

    def _free_minor(self) -> int:
        """The lowest free pseudo minor (from where the last search stopped: creating n
        devices costs n steps, not n squared)."""
        minor = self._lowest_free
        while minor in self._minors:
            minor += 1
        self._lowest_free = minor
        return minor

    def _holders(self, dev: Device) -> List[str]:
        return [
            md.name
            for md in self._mapped.values()
            if any(r.device is dev for r in md.table.devices())
        ]

    def _release_host(self) -> None:
        """Close host devices no mapped device uses any more."""
        for key, dev in list(self._host.items()):
            if not self._holders(dev):
                del self._host[key]
                dev.close()
