"""A userspace device mapper: Linux dm tables, read from image files.

This package knows nothing of LVM; it imports nothing from lvmread outside
``lvmread.dm``.  Typical use::

    from lvmread.dm import DeviceMapper

    with DeviceMapper() as dm:
        dm.add_device("pv0", "disk.img", start=1048576)
        lv = dm.create("vg0-lv0", "0 16384 linear pv0 2048")
        data = lv.read(4096)
        print(lv.table_text(), end="")   # 0 16384 linear pv0 2048

Tables use the ``dmsetup table`` syntax (:mod:`lvmread.dm.table`); target types
live one per module in :mod:`lvmread.dm.targets`, each saying where a range goes
(``map``), from which the core derives reads, fast paths and ranges
(:mod:`lvmread.dm.targets.base`); a loaded table is :mod:`lvmread.dm.mapping`, the
file object over it :mod:`lvmread.dm.mapped_device`, the registry of mapped devices
:mod:`lvmread.dm.mapper`; underlying devices are in :mod:`lvmread.dm.devices`.
"""

from __future__ import annotations

from lvmread.dm.devices import Device, FileDevice, ObjectDevice, RegionDevice
from lvmread.dm.errors import DMDeviceError, DMError, DMIOError, DMTableError
from lvmread.dm.mapped_device import MappedDevice
from lvmread.dm.mapper import DM_MAJOR, DeviceMapper
from lvmread.dm.mapping import MAX_STACK_DEPTH, Table, build_table
from lvmread.dm.table import (
    SECTOR_SIZE,
    TableEntry,
    escape_arg,
    escape_args,
    format_table,
    join_args,
    parse_table,
    parse_table_line,
    split_args,
    split_table_args,
)
from lvmread.dm.targets import (
    DeviceArea,
    DeviceRef,
    Target,
    TargetContext,
    lookup_target,
    register_target,
    target_types,
)

__all__ = [
    "DM_MAJOR",
    "MAX_STACK_DEPTH",
    "SECTOR_SIZE",
    "DMDeviceError",
    "DMError",
    "DMIOError",
    "DMTableError",
    "Device",
    "DeviceArea",
    "DeviceMapper",
    "DeviceRef",
    "FileDevice",
    "MappedDevice",
    "ObjectDevice",
    "RegionDevice",
    "Table",
    "TableEntry",
    "Target",
    "TargetContext",
    "build_table",
    "format_table",
    "escape_arg",
    "escape_args",
    "join_args",
    "lookup_target",
    "parse_table",
    "parse_table_line",
    "register_target",
    "split_args",
    "split_table_args",
    "target_types",
]
