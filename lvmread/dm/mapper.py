"""The registry of mapped devices: the userspace device mapper.

:class:`DeviceMapper` plays the kernel's part: it holds named underlying
devices the caller registers, opens host devices a table names (read-only),
builds and validates tables (:func:`build_table`) and hands out
:class:`MappedDevice` objects, each with a pseudo device number
``253:N`` by which, or by whose name, later tables can stack on it.

The loaded table is :mod:`lvmread.dm.mapping`, the file object over it
:mod:`lvmread.dm.mapped_device`; their names are re-exported here.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Iterable, Iterator, List, Union

from lvmread.dm.devices import (
    Device,
    FileDevice,
    ObjectDevice,
    RegionDevice,
    open_host_device,
    parse_devno,
)
from lvmread.dm.errors import DMDeviceError, DMError
from lvmread.dm.mapped_device import MappedDevice
from lvmread.dm.mapping import MAX_STACK_DEPTH, Table, build_table
from lvmread.dm.table import TableEntry, parse_table

#: major number of the pseudo device numbers (the usual device-mapper major)
DM_MAJOR = 253
#: the kernel's DM_NAME_LEN, including the terminating NUL
DM_NAME_LEN = 128

TableSource = Union[str, Iterable[TableEntry]]


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


__all__ = [
    "DM_MAJOR",
    "DM_NAME_LEN",
    "MAX_STACK_DEPTH",
    "DeviceMapper",
    "MappedDevice",
    "Table",
    "build_table",
]
