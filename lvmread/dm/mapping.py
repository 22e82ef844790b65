"""A loaded table: its targets in sector order, built and validated as the kernel's
table load does (:func:`build_table`).

A :class:`Table` is also a :class:`~lvmread.dm.devices.Device`, which is how a mapped
device serves as an underlying device of another (stacking).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Iterable, List, Optional, Sequence, Tuple

from lvmread.dm.devices import Buffer, Device, FastRead, FileDevice, merge_ranges
from lvmread.dm.errors import DMError, DMIOError, DMTableError
from lvmread.dm.table import MAX_SECTORS, SECTOR_SHIFT, TableEntry, format_table
from lvmread.dm.targets import DeviceLookup, DeviceRef, Target, TargetContext, lookup_target

#: how many mapped devices may be stacked on each other
MAX_STACK_DEPTH = 16


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
        #: per target: its first and its end byte
        self.starts: List[int] = [t.begin << SECTOR_SHIFT for t in self.targets]
        self.ends: List[int] = [(t.begin + t.length) << SECTOR_SHIFT for t in self.targets]
        self._starts, self._ends = self.starts, self.ends
        self._size = self.ends[-1]
        self._single = self.targets[0] if len(self.targets) == 1 else None
        #: per target: (file device, byte offset) when it is one range of one file
        self.flats: List[Optional[Tuple[FileDevice, int]]] = [t.flat() for t in self.targets]
        self.is_flat = all(f is not None for f in self.flats)
        #: per target: its FastRead (system calls only), or None
        self.fast_readers: List[Optional[FastRead]] = [t.fast_reader() for t in self.targets]
        self._flat, self._fast = self.flats, self.fast_readers  # the names of old
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

    def _read_error(self, e: Exception, offset: int) -> Exception:
        """What a read of this device at ``offset`` raises for ``e``: a DMIOError of an
        underlying device names this one too; an OSError becomes a DMIOError; any other
        DMError stands as it is."""
        if isinstance(e, DMIOError):
            if e.device is None:
                e.device = self.name
            return e
        if isinstance(e, OSError):
            return DMIOError(
                f"I/O error: {e.strerror or e}", device=self.name, sector=offset >> SECTOR_SHIFT
            )
        return e

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
        except (DMError, OSError) as e:
            raise self._read_error(e, offset) from (e if isinstance(e, OSError) else None)

    def pread(self, length: int, offset: int) -> bytes:
        i = bisect_right(self._starts, offset) - 1
        if 0 <= i and offset + length <= self._ends[i] and length >= 0:
            try:
                return self.targets[i].pread(length, offset - self._starts[i])
            except (DMError, OSError) as e:
                raise self._read_error(e, offset) from (e if isinstance(e, OSError) else None)
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
