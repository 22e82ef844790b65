"""The ``error`` target: every read fails (kernel ``dm-target.c``, ``io_err``).

The kernel takes any arguments; exactly two are taken as ``<device> <offset>``
like ``linear`` (the device is looked up and its range checked, for queue
limits), others are ignored.  Its table line prints without arguments, as the
kernel's error target has no status function.
"""

from __future__ import annotations

from typing import List, Tuple

from lvmread.dm.devices import Buffer
from lvmread.dm.errors import DMIOError
from lvmread.dm.table import SECTOR_SHIFT
from lvmread.dm.targets.base import (
    DeviceArea,
    DeviceRef,
    Target,
    TargetContext,
    register_target,
)


@register_target
class ErrorTarget(Target):
    """``error``: reading any sector raises :class:`DMIOError`."""

    name = "error"

    def __init__(self, ctx: TargetContext) -> None:
        super().__init__(ctx)
        self.ref: DeviceRef | None = None
        self.offset = 0
        if len(ctx.args) == 2:
            self.offset = ctx.sector_arg(1)
            self.ref = ctx.device_arg(0)

    def preadinto(self, buf: Buffer, offset: int) -> None:
        raise DMIOError(
            "I/O error (error target)",
            device=self.md_name,
            sector=(self.begin + (offset >> SECTOR_SHIFT)),
        )

    def mapped_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        return [(offset, length)] if kind == "error" and length > 0 else []

    def args(self) -> List[str]:
        return []  # the kernel's error target has no status: it prints no arguments

    def device_areas(self) -> List[DeviceArea]:
        if self.ref is None:
            return []
        return [DeviceArea(self.ref, self.offset, self.length)]
