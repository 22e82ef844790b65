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
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar, Dict, List, Optional, Sequence, Tuple, Type, TypeVar

from lvmread.dm.devices import Buffer, Device, FastRead, FileDevice, flat_reader, read_bytes
from lvmread.dm.errors import DMError, DMTableError
from lvmread.dm.table import SECTOR_SHIFT, escape_args, parse_uint

#: resolves a device token of a table ("7:0", a path, a registered or mapped name)
DeviceLookup = Callable[[str], Device]


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


class Target(ABC):
    """One target of a table: maps its range of the mapped device somewhere.

    Subclasses set ``name`` and implement ``__init__(ctx)`` (validate and
    resolve arguments, raising ``ctx.error(...)``), :meth:`preadinto` and
    :meth:`args`; targets with devices return them from
    :meth:`device_areas` so the table can check they fit.
    """

    #: target type name as in the table ("linear", "striped", ...)
    name: ClassVar[str] = ""

    def __init__(self, ctx: TargetContext) -> None:
        self.begin = ctx.begin
        self.length = ctx.length
        self.md_name = ctx.md_name
        self.line = ctx.line

    @property
    def size(self) -> int:
        """Bytes this target covers."""
        return self.length << SECTOR_SHIFT

    @abstractmethod
    def preadinto(self, buf: Buffer, offset: int) -> None:
        """Fill ``buf`` with the target's bytes at ``offset`` (bytes from the target's start).

        The caller keeps ``offset + len(buf)`` within :attr:`size`.
        """

    def pread(self, length: int, offset: int) -> bytes:
        """``length`` bytes at ``offset`` (bytes from the target's start)."""
        return read_bytes(lambda buf: self.preadinto(buf, offset), length)

    def read(self, offset: int, length: int) -> bytes:
        """Alias of :meth:`pread` with the arguments in (offset, length) order."""
        return self.pread(length, offset)

    @abstractmethod
    def args(self) -> List[str]:
        """The target's arguments as the kernel reports them (``STATUSTYPE_TABLE``).

        Device tokens come back as the table gave them; numbers normalised.
        """

    def args_text(self) -> str:
        """The target's arguments as ``dmsetup table`` prints them (quoted if need be)."""
        return escape_args(self.args())

    def flat(self) -> Optional[Tuple[FileDevice, int]]:
        """``(file device, byte offset)`` if the whole target is one contiguous range
        of one file (reads then bypass the target), else None."""
        return None

    def mapped_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        """The parts of ``length`` bytes at ``offset`` (from the target's start) whose
        reads the mapping answers (``kind`` ``"error"`` or ``"zero"``), as sorted, disjoint
        ``(offset, length)`` pairs; see :meth:`lvmread.dm.devices.Device.mapped_ranges`.
        None known by default."""
        return []

    def fast_reader(self) -> Optional[FastRead]:
        """A :data:`~lvmread.dm.devices.FastRead` that reads this target's bytes with
        system calls alone (no Python per chunk or page), or None when there is none.

        By default, that of a :meth:`flat` target; targets spread over several
        files (striped) override it.
        """
        flat = self.flat()
        return None if flat is None else flat_reader(*flat)

    def device_areas(self) -> List[DeviceArea]:
        """The device ranges this target maps (for size checks and dependencies)."""
        return []

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
