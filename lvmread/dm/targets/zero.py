"""The ``zero`` target: no arguments; reads return zeros (kernel ``dm-zero.c``)."""

from __future__ import annotations

from typing import List

from lvmread.dm.targets.base import ZERO, Run, Target, TargetContext, register_target


@register_target
class ZeroTarget(Target):
    """``zero``: every sector reads as zeros."""

    name = "zero"

    def __init__(self, ctx: TargetContext) -> None:
        super().__init__(ctx)
        if ctx.args:
            raise ctx.error("no arguments required", 0)

    def map(self, offset: int, length: int) -> List[Run]:
        return [Run(None, 0, length, ZERO)]

    def args(self) -> List[str]:
        return []
