"""The ``error`` target: every read fails (kernel ``dm-target.c``, ``io_err``).

The kernel takes any arguments; exactly two are taken as ``<device> <offset>``
like ``linear`` (the device is looked up and its range checked, for queue
limits), others are ignored.  Its table line prints without arguments, as the
kernel's error target has no status function.
"""

from __future__ import annotations

from typing import List

from lvmread.dm.table import SECTOR_SHIFT
from lvmread.dm.targets.base import ERROR, DeviceRef, Run, Target, TargetContext, register_target


@register_target
class ErrorTarget(Target):
    """``error``: reading any sector raises :class:`~lvmread.dm.errors.DMIOError`."""

    name = "error"

    def __init__(self, ctx: TargetContext) -> None:
        super().__init__(ctx)
        self.ref: DeviceRef | None = None
        self.offset = 0
        if len(ctx.args) == 2:
            self.offset = ctx.sector_arg(1)
            self.ref = ctx.device_arg(0)

    def map(self, offset: int, length: int) -> List[Run]:
        # the device (if any) is named so that its area is checked, never read
        return [Run(self.ref, (self.offset << SECTOR_SHIFT) + offset, length, ERROR)]

    def args(self) -> List[str]:
        return []  # the kernel's error target has no status: it prints no arguments
