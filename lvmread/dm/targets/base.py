"""What every target type shares: the constructor context, the base class, the registry.

A target type is a :class:`Target` subclass with a ``name`` class attribute,
registered with :func:`register_target`.  Its constructor gets a
:class:`TargetContext` (the table line: range, arguments, a device lookup) and
validates the arguments as the kernel target's ``ctr`` does, raising errors
made by :meth:`TargetContext.error`, which name the line, the target and the
argument.
"""

from __future__ import annotations

import importlib
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import (
    Callable,
    ClassVar,
    Dict,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
)

from lvmread.dm.devices import (
    IOV_MAX,
    Buffer,
    Device,
    FastRead,
    FileDevice,
    flat_reader,
    merge_ranges,
    read_bytes,
)
from lvmread.dm.errors import DMError, DMIOError, DMTableError
from lvmread.dm.table import SECTOR_SHIFT, escape_args, parse_uint

#: resolves a device token of a table ("7:0", a path, a registered or mapped name)
DeviceLookup = Callable[[str], Device]

_HAVE_PREADV = hasattr(os, "preadv")


@dataclass(frozen=True)
class DeviceRef:
    """An underlying device a target uses, with the token the table named it by."""

    token: str
    """the device as written in the table (printed back as is)"""
    device: Device
    """the opened device"""
    arg_index: int
    """0-based index of the token among the target's arguments"""


@dataclass(frozen=True)
class DeviceArea:
    """A range of an underlying device a target maps (the kernel's ``iterate_devices``)."""

    ref: DeviceRef
    start: int
    """first sector on the device"""
    length: int
    """number of sectors"""


class TargetContext:
    """A table line as a target's constructor sees it (the kernel's ``struct dm_target``)."""

    def __init__(
        self,
        *,
        target: str,
        begin: int,
        length: int,
        args: Sequence[str],
        lookup: DeviceLookup | None = None,
        line: int | None = None,
        md_name: str | None = None,
    ) -> None:
        self.target = target
        self.begin = begin
        self.length = length
        self.args: Tuple[str, ...] = tuple(args)
        self.line = line
        self.md_name = md_name
        self._lookup = lookup

    def error(self, message: str, arg: int | None = None) -> DMTableError:
        """An error about this line; ``arg`` is the 0-based index of the argument at fault."""
        return DMTableError(
            message,
            device=self.md_name,
            line=self.line,
            target=self.target,
            arg_index=None if arg is None else arg + 1,
            argument=None if arg is None or arg >= len(self.args) else self.args[arg],
        )

    def expect_args(self, count: int) -> None:
        """Refuse any argument count but ``count``."""
        if len(self.args) != count:
            raise self.error(f"invalid argument count: expected {count}, got {len(self.args)}")

    def uint_arg(self, index: int, what: str, bits: int = 64) -> int:
        """Argument ``index`` as an unsigned decimal below ``2**bits``."""
        value = parse_uint(self.args[index], bits)
        if value is None:
            raise self.error(f"not {what}", index)
        return value

    def sector_arg(self, index: int) -> int:
        """Argument ``index`` as a sector offset within a device (``%llu``)."""
        return self.uint_arg(index, "a device offset (unsigned sector number)")

    def device_arg(self, index: int) -> DeviceRef:
        """Resolve argument ``index`` as a device token."""
        token = self.args[index]
        if self._lookup is None:
            raise self.error("no device lookup available", index)
        try:
            device = self._lookup(token)
        except DMError as e:
            why = str(e)
            if why.startswith(token + ": "):
                why = why[len(token) + 2 :]
            raise self.error(f"device lookup failed: {why}", index) from e
        return DeviceRef(token, device, index)


#: what a run of a mapping does with its bytes
READ, ZERO, ERROR = "read", "zero", "error"

_ZEROS = bytes(1 << 20)
#: shapes of reads whose plans a periodic target keeps, by default
MAX_PLANS = 64
_UNPLANNED: object = object()


class Run(NamedTuple):
    """Where ``length`` bytes of a target go: read from ``ref``'s device at byte ``offset``
    (``kind`` :data:`READ`), or answered by the mapping: zeros (:data:`ZERO`) or an I/O
    error (:data:`ERROR`; ``ref`` may still name the device area the error covers)."""

    ref: Optional[DeviceRef]
    offset: int
    length: int
    kind: str = READ


#: a planned read over host files: (file, slices of the buffer, byte offset in the file
#: at row 0, bytes in all), one per contiguous range of a file the read fills
_Plan = Tuple[Tuple[FileDevice, Tuple[slice, ...], int, int], ...]


class Target(ABC):
    """One target of a table: says where its range of the mapped device goes.

    Subclasses set ``name``, implement ``__init__(ctx)`` (validate and resolve arguments,
    raising ``ctx.error(...)``), :meth:`map` and :meth:`args`.  The core derives from
    :meth:`map` the reads, the fast paths, :meth:`mapped_ranges` and :meth:`device_areas`;
    only a target that computes its data (parity, decryption) overrides :meth:`preadinto`.

    A target whose mapping repeats (striped) sets :attr:`periodic` to ``(period,
    advance)``: ``map(o + k * period, n)`` is ``map(o, n)`` with every run's device offset
    advanced by ``k * advance``, each run of ``map(0, period)`` is ``advance`` bytes long,
    and the target's length is a whole number of periods.  Its reads are then planned
    once per shape and its mapped ranges found by rows, in time that grows with the
    answer, not with the length asked about.
    """

    #: target type name as in the table ("linear", "striped", ...)
    name: ClassVar[str] = ""
    #: ``(period, advance)`` in bytes for a mapping that repeats, else None
    periodic: Optional[Tuple[int, int]] = None
    #: how many shapes of read a periodic target keeps the plans of
    max_plans: ClassVar[int] = MAX_PLANS

    def __init__(self, ctx: TargetContext) -> None:
        self.begin = ctx.begin
        self.length = ctx.length
        self.md_name = ctx.md_name
        self.line = ctx.line

    @property
    def size(self) -> int:
        """Bytes this target covers."""
        return self.length << SECTOR_SHIFT

    def map(self, offset: int, length: int) -> List[Run]:
        """Where ``length`` (> 0) bytes at ``offset`` (from the target's start) go, as runs
        in order that add up to ``length``.  The caller keeps the range within :attr:`size`.

        A target that computes its data and overrides :meth:`preadinto` instead maps
        nothing (no device areas, no fast path, no ranges the mapping answers)."""
        return []

    @abstractmethod
    def args(self) -> List[str]:
        """The target's arguments as the kernel reports them (``STATUSTYPE_TABLE``).

        Device tokens come back as the table gave them; numbers normalised.
        """

    def args_text(self) -> str:
        """The target's arguments as ``dmsetup table`` prints them (quoted if need be)."""
        return escape_args(self.args())

    # reads ---------------------------------------------------------------------

    def preadinto(self, buf: Buffer, offset: int) -> None:
        """Fill ``buf`` with the target's bytes at ``offset`` (bytes from the target's start):
        the runs of :meth:`map`, a run on a device that continues the previous one there
        read with it in one ``preadv``.  The caller keeps ``offset + len(buf)`` within
        :attr:`size`."""
        length = len(buf)
        if length <= 0:
            return
        runs = self.map(offset, length)
        if not runs:
            raise NotImplementedError(f"target {self.name!r} has neither map() nor preadinto()")
        if len(runs) == 1 and runs[0].kind == READ:
            r = runs[0]
            r.ref.device.preadinto(buf, r.offset)  # type: ignore[union-attr]
            return
        mv = memoryview(buf).cast("B")
        # per device: [device, next offset there, first offset, buffer pieces]
        groups: Dict[int, list] = {}
        pending: List[list] = []
        pos = 0
        for r in runs:
            piece = mv[pos : pos + r.length]
            if r.kind == READ:
                dev = r.ref.device  # type: ignore[union-attr]
                g = groups.get(id(dev))
                if g is not None and g[1] == r.offset:
                    g[3].append(piece)
                    g[1] += r.length
                else:
                    g = groups[id(dev)] = [dev, r.offset + r.length, r.offset, [piece]]
                    pending.append(g)
            elif r.kind == ZERO:
                for i in range(0, r.length, len(_ZEROS)):
                    part = piece[i : i + len(_ZEROS)]
                    part[:] = _ZEROS[: len(part)]
            else:
                raise DMIOError(
                    f"I/O error ({self.name} target)",
                    device=self.md_name,
                    sector=self.begin + ((offset + pos) >> SECTOR_SHIFT),
                )
            pos += r.length
        for dev, _next, start, pieces in pending:
            if len(pieces) == 1:
                dev.preadinto(pieces[0], start)
            else:
                dev.preadv(pieces, start)

    def pread(self, length: int, offset: int) -> bytes:
        """``length`` bytes at ``offset`` (bytes from the target's start)."""
        if length > 0 and type(self).preadinto is Target.preadinto:
            runs = self.map(offset, length)
            if len(runs) == 1:
                r = runs[0]
                if r.kind == READ:
                    return r.ref.device.pread(length, r.offset)  # type: ignore[union-attr]
                if r.kind == ZERO:
                    return bytes(length)
        return read_bytes(lambda buf: self.preadinto(buf, offset), length)

    def read(self, offset: int, length: int) -> bytes:
        """Alias of :meth:`pread` with the arguments in (offset, length) order."""
        return self.pread(length, offset)

    # what the core derives from map --------------------------------------------

    def flat(self) -> Optional[Tuple[FileDevice, int]]:
        """``(file device, byte offset)`` if the whole target is one contiguous range
        of one file (reads then bypass the target), else None."""
        if type(self).preadinto is not Target.preadinto:
            return None
        runs = self._areas()
        if len(runs) != 1 or runs[0].kind != READ:
            return None
        r = runs[0]
        return r.ref.device.flat_range(r.offset, r.length)  # type: ignore[union-attr]

    def fast_reader(self) -> Optional[FastRead]:
        """A :data:`~lvmread.dm.devices.FastRead` that reads this target's bytes with
        system calls alone (no Python per chunk or page), or None when there is none:
        that of a :meth:`flat` target (one ``preadv``), or, for a :attr:`periodic` target
        whose device areas are plain ranges of host files, one ``preadv`` per file range
        the runs of a read fill: a read inside one run of a period is one ``preadv``,
        others are planned once per shape (where the read starts within a period, and its
        length; a sequential reader has one)."""
        flat = self.flat()
        if flat is not None:
            return flat_reader(*flat)
        if not _HAVE_PREADV or type(self).preadinto is not Target.preadinto:
            return None
        if any(
            a.ref.device.flat_range(a.start << SECTOR_SHIFT, a.length << SECTOR_SHIFT) is None
            for a in self.device_areas()
        ):
            return None
        if self.periodic is None:
            return None
        period, advance = self.periodic
        plans: Dict[Tuple[int, int], object] = {}
        max_plans = self.max_plans
        preadv = os.preadv
        plan_for = self._plan
        # a read inside one run of a period (a chunk) needs no plan: per run, its file and
        # where the run starts in the file at row 0
        within = [
            None if p is None or len(p) != 1 else p[0]
            for p in (plan_for(j * advance, advance) for j in range(period // advance))
        ]

        def read(buf: Buffer, offset: int, length: int) -> bool:
            row, phase = divmod(offset, period)
            j, into = divmod(phase, advance)
            one = within[j]
            if one is not None and into + length <= advance:
                return preadv(one[0].fd, (buf,), one[2] + row * advance + into) == length
            plan = plans.get((phase, length), _UNPLANNED)
            if plan is _UNPLANNED:
                if len(plans) >= max_plans:
                    plans.clear()
                plan = plans[phase, length] = plan_for(phase, length)
            if plan is None:  # too many pieces for one preadv: the general path
                return False
            at = row * advance
            if len(plan) == 1 and len(plan[0][1]) == 1:  # one range of one file
                f, _sl, start, total = plan[0]
                return preadv(f.fd, (buf,), start + at) == total
            mv = memoryview(buf)
            if mv.format != "B":
                mv = mv.cast("B")
            piece = mv.__getitem__
            for f, slices, start, total in plan:
                if preadv(f.fd, list(map(piece, slices)), start + at) != total:
                    return False
            return True

        return read

    def _plan(self, offset: int, length: int) -> Optional[_Plan]:
        """The runs of a read of ``length`` bytes at ``offset`` as ranges of host files, each
        with the slices of the buffer it fills; None if a run is not a plain read of a file
        or a range needs more pieces than one ``preadv`` takes."""
        files: Dict[Tuple[int, int], list] = {}  # (file, next offset) -> plan entry
        plan: List[list] = []
        pos = 0
        for r in self.map(offset, length):
            if r.kind != READ:
                return None
            flat = r.ref.device.flat_range(r.offset, r.length)  # type: ignore[union-attr]
            if flat is None:
                return None
            f, at = flat
            entry = files.pop((id(f), at), None)
            if entry is None:
                entry = [f, [], at, 0]
                plan.append(entry)
            entry[1].append(slice(pos, pos + r.length))
            if len(entry[1]) > IOV_MAX:
                return None
            entry[3] += r.length
            files[id(f), at + r.length] = entry
            pos += r.length
        return tuple((f, tuple(sl), at, total) for f, sl, at, total in plan)

    def mapped_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        """The parts of ``length`` bytes at ``offset`` (from the target's start) whose
        reads the mapping answers (``kind`` ``"error"`` or ``"zero"``, also in devices
        below), as sorted, disjoint ``(offset, length)`` pairs; see
        :meth:`lvmread.dm.devices.Device.mapped_ranges`."""
        if length <= 0:
            return []
        if self.periodic is not None:
            return self._periodic_ranges(kind, offset, length)
        out: List[Tuple[int, int]] = []
        pos = offset
        for r in self.map(offset, length):
            if r.kind == kind:
                out.append((pos, r.length))
            elif r.kind == READ:
                got = r.ref.device.mapped_ranges(kind, r.offset, r.length)  # type: ignore[union-attr]
                out += [(pos + o - r.offset, n) for o, n in got]
            pos += r.length
        return merge_ranges(out)

    def _periodic_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        """:meth:`mapped_ranges` by rows (periods): each run of a period, over all the rows
        asked about, is one range of its device: ask each device once, then walk the rows:
        rows that every run's answer covers join into one range, rows none of them touches
        are skipped, and only the rows in between give a piece per run. So the work and
        the answer grow with how fragmented the answer is, not with the length asked."""
        period, cs = self.periodic  # type: ignore[misc]
        end = offset + length
        r0, r1 = offset // period, -(-end // period)
        runs = self.map(0, period)
        n = len(runs)
        spans: List[List[Tuple[int, int]]] = []  # per run: [start, end) from its row 0
        pos_in_row: List[int] = []
        pos = 0
        for run in runs:
            pos_in_row.append(pos)
            pos += run.length
            if run.kind != READ:  # answered by the mapping itself, in every row
                whole = [(r0 * cs, r1 * cs)] if run.kind == kind else []
                spans.append(whole)
                continue
            base = run.offset
            got = run.ref.device.mapped_ranges(kind, base + r0 * cs, (r1 - r0) * cs)  # type: ignore[union-attr]
            spans.append([(o - base, o - base + k) for o, k in got])
        if not any(spans):
            return []
        out: List[Tuple[int, int]] = []
        at = [0] * n
        r = r0
        while r < r1:
            lo, hi = r * cs, (r + 1) * cs
            covered_until = r1  # rows every run covers, from r
            untouched_until = r1  # rows no run touches, from r
            partial = False
            for s in range(n):
                iv, i = spans[s], at[s]
                while i < len(iv) and iv[i][1] <= lo:
                    i += 1
                at[s] = i
                if i < len(iv) and iv[i][0] <= lo and iv[i][1] >= hi:
                    covered_until = min(covered_until, iv[i][1] // cs)
                    untouched_until = r
                else:
                    covered_until = r
                    if i < len(iv) and iv[i][0] < hi:
                        partial = True
                        untouched_until = r
                    elif i < len(iv):
                        untouched_until = min(untouched_until, iv[i][0] // cs)
            if covered_until > r:
                out.append((r * period, (covered_until - r) * period))
                r = covered_until
            elif untouched_until > r and not partial:
                r = untouched_until
            else:  # the runs differ in this row: a piece per run
                for s in range(n):
                    iv = spans[s]
                    i = at[s]
                    while i < len(iv) and iv[i][0] < hi:
                        a, b = max(iv[i][0], lo), min(iv[i][1], hi)
                        out.append((r * period + pos_in_row[s] + a - lo, b - a))
                        i += 1
                r += 1
        clipped = [
            (max(o, offset), min(o + k, end) - max(o, offset))
            for o, k in out
            if o < end and o + k > offset
        ]
        return merge_ranges(clipped)

    def device_areas(self) -> List[DeviceArea]:
        """The device ranges this target maps (for size checks and dependencies): the runs
        of the whole target (of one period, times the rows, for a periodic one) that name
        a device, joined where they continue each other."""
        areas: List[DeviceArea] = []
        for r in self._areas():
            if r.ref is None:
                continue
            start, n = r.offset >> SECTOR_SHIFT, r.length >> SECTOR_SHIFT
            last = areas[-1] if areas else None
            if last is not None and last.ref == r.ref and last.start + last.length == start:
                areas[-1] = DeviceArea(r.ref, last.start, last.length + n)
            else:
                areas.append(DeviceArea(r.ref, start, n))
        return areas

    def _areas(self) -> List[Run]:
        """The runs of the whole target, each run of a periodic target's first period
        stretched over all the rows (the whole target exactly if there is one such run)."""
        if self.periodic is None:
            return self.map(0, self.size) if type(self).map is not Target.map else []
        period, advance = self.periodic
        rows = self.size // period
        return [r._replace(length=rows * advance) for r in self.map(0, period)]

    def devices(self) -> List[DeviceRef]:
        """The underlying devices this target uses, in argument order."""
        seen: List[DeviceRef] = []
        for area in self.device_areas():
            if area.ref not in seen:
                seen.append(area.ref)
        return seen

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release target state (devices belong to the device mapper, not the target)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.begin} {self.length} {self.args_text()!r}>"


_registry: Dict[str, Type[Target]] = {}
_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")

T = TypeVar("T", bound=Type[Target])


def register_target(cls: T) -> T:
    """Class decorator: make ``cls`` the target type for tables naming ``cls.name``."""
    name = cls.name
    if not name or not _NAME.match(name):
        raise ValueError(f"bad target type name {name!r}")
    old = _registry.get(name)
    if old is not None and old is not cls:
        raise ValueError(f"target type {name!r} is already registered by {old.__qualname__}")
    _registry[name] = cls
    return cls


def unregister_target(name: str) -> None:
    """Forget target type ``name`` (no error if it is not registered)."""
    _registry.pop(name, None)


def lookup_target(name: str) -> Type[Target] | None:
    """The class for target type ``name``, or None.

    Like the kernel's ``request_module("dm-%s")``, a type not yet registered is
    looked for in the module ``lvmread.dm.targets.<name>`` (dashes as
    underscores), so new target types join by adding a module.
    """
    cls = _registry.get(name)
    if cls is not None or not _NAME.match(name):
        return cls
    try:
        importlib.import_module(f"lvmread.dm.targets.{name.replace('-', '_')}")
    except ModuleNotFoundError as e:
        if e.name is None or not e.name.startswith("lvmread.dm.targets."):
            raise
        return None
    return _registry.get(name)


def target_types() -> Dict[str, Type[Target]]:
    """A copy of the registry: target type name -> class."""
    return dict(_registry)
