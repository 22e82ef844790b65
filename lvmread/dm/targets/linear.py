"""The ``linear`` target: ``<device> <offset>``.

Maps the target's sectors one to one onto ``device`` from sector ``offset``
on (kernel ``dm-linear.c``; Documentation/admin-guide/device-mapper/linear.rst).
"""

from __future__ import annotations

from typing import List

from lvmread.dm.table import SECTOR_SHIFT
from lvmread.dm.targets.base import Run, Target, TargetContext, register_target


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
        self._base = self.offset << SECTOR_SHIFT

    def map(self, offset: int, length: int) -> List[Run]:
        return [Run(self.ref, self._base + offset, length)]

    def args(self) -> List[str]:
        return [self.ref.token, str(self.offset)]
