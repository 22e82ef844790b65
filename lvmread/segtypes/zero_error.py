"""``zero``, ``error`` and ``free``: virtual segments with no areas (lvm2's lib/zero,
lib/error, lib/freeseg); zero and error map to dm's targets of the same name."""

from __future__ import annotations

from ..model.volumes import Segment
from . import AreaResolver, SegmentType, register


class Zero(SegmentType):
    names = ("zero",)
    virtual = True

    def table_line(self, seg: Segment, ctx: AreaResolver, start: int, length: int) -> str:
        return f"{start} {length} zero"


class Error(SegmentType):
    names = ("error",)
    virtual = True

    def table_line(self, seg: Segment, ctx: AreaResolver, start: int, length: int) -> str:
        return f"{start} {length} error"


class Free(SegmentType):
    """``free``: lvm2's placeholder for unallocated space; never mapped."""

    names = ("free",)
    virtual = True


register(Zero())
register(Error())
register(Free())
