"""``striped`` and ``linear``: the areas the metadata lists, mapped by dm's striped or
linear target (lvm2's lib/striped/striped.c)."""

from __future__ import annotations

from typing import Optional

from ..errors import ActivationError
from ..model.volumes import Segment
from . import AreaResolver, SegmentType, register


class Striped(SegmentType):
    names = ("striped",)

    def area_len(self, seg: Segment) -> int:
        n = len(seg.data_areas)
        return seg.extent_count // n if n else seg.extent_count

    def problems(self, seg: Segment, where: str) -> list[str]:
        out = []
        n = seg.raw.get("stripe_count")
        if n != len(seg.areas):
            out.append(f"{where}: stripe_count {n} but {len(seg.areas)} stripes listed")
        if seg.areas and seg.extent_count % len(seg.areas):
            out.append(
                f"{where}: {seg.extent_count} extents do not divide into {len(seg.areas)} stripes"
            )
        if len(seg.areas) > 1:
            size = seg.stripe_size
            if size <= 0 or size & (size - 1):
                out.append(f"{where}: stripe_size {size} is not a positive power of two")
        return out

    def table_line(self, seg: Segment, ctx: AreaResolver, start: int, length: int) -> str:
        if not seg.areas:
            raise ActivationError(
                f"LV {seg.lv.name} segment {seg.index}: striped segment has no areas"
            )
        areas = [ctx.pv_area(seg, i) for i in range(len(seg.areas))]
        if len(areas) == 1:
            dev, offset = areas[0]
            return f"{start} {length} linear {dev} {offset}"
        args = " ".join(f"{dev} {offset}" for dev, offset in areas)
        return f"{start} {length} striped {len(areas)} {seg.stripe_size} {args}"

    def report_name(self, seg: Segment) -> str:
        return "linear" if len(seg.data_areas) == 1 else "striped"

    def plain_layout(self, seg: Segment) -> Optional[str]:
        return "linear" if len(seg.data_areas) == 1 else "striped"


class Linear(Striped):
    """``linear``: lvm2 reads it as its striped type (no stripe checks, no area division)."""

    names = ("linear",)

    def area_len(self, seg: Segment) -> int:
        return seg.extent_count

    def problems(self, seg: Segment, where: str) -> list[str]:
        return []

    def report_name(self, seg: Segment) -> str:
        return "linear"


register(Striped())
register(Linear())
