"""The ``zero`` target: no arguments; reads return zeros (kernel ``dm-zero.c``)."""

from __future__ import annotations

from typing import List, Tuple

from lvmread.dm.devices import Buffer
from lvmread.dm.targets.base import Target, TargetContext, register_target

_ZEROS = bytes(1 << 20)


@register_target
class ZeroTarget(Target):
    """``zero``: every sector reads as zeros."""

    name = "zero"

    def __init__(self, ctx: TargetContext) -> None:
        super().__init__(ctx)
        if ctx.args:
            raise ctx.error("no arguments required", 0)

    def preadinto(self, buf: Buffer, offset: int) -> None:
        mv = memoryview(buf).cast("B")
        step = len(_ZEROS)
        for i in range(0, len(mv), step):
            part = mv[i : i + step]
            part[:] = _ZEROS[: len(part)]

    def pread(self, length: int, offset: int) -> bytes:
        return bytes(length)

    def mapped_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        return [(offset, length)] if kind == "zero" and length > 0 else []

    def args(self) -> List[str]:
        return []
