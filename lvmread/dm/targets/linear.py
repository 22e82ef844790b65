"""The ``linear`` target: ``<device> <offset>``.

Maps the target's sectors one to one onto ``device`` from sector ``offset``
on (kernel ``dm-linear.c``; Documentation/admin-guide/device-mapper/linear.rst).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from lvmread.dm.devices import Buffer, FileDevice
from lvmread.dm.table import SECTOR_SHIFT
from lvmread.dm.targets.base import DeviceArea, Target, TargetContext, register_target


@register_target
class LinearTarget(Target):
    """``linear <device> <offset>``: a contiguous range of one device."""

    name = "linear"

    def __init__(self, ctx: TargetContext) -> None:
        super().__init__(ctx)
        ctx.expect_args(2)
        #: first sector on the device
        self.offset = ctx.sector_arg(1)
        self.ref = ctx.device_arg(0)
        self._dev = self.ref.device
        self._base = self.offset << SECTOR_SHIFT

    def preadinto(self, buf: Buffer, offset: int) -> None:
        self._dev.preadinto(buf, self._base + offset)

    def pread(self, length: int, offset: int) -> bytes:
        return self._dev.pread(length, self._base + offset)

    def mapped_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        base = self._base
        return [(o - base, n) for o, n in self._dev.mapped_ranges(kind, base + offset, length)]

    def flat(self) -> Optional[Tuple[FileDevice, int]]:
        return self._dev.flat_range(self._base, self.size)

    def args(self) -> List[str]:
        return [self.ref.token, str(self.offset)]

    def device_areas(self) -> List[DeviceArea]:
        return [DeviceArea(self.ref, self.offset, self.length)]
