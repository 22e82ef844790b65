"""``snapshot`` (lvm2's lib/snapshot/snapshot.c): an origin and a COW store; not mapped
yet, and neither are the origin and COW store it uses (lvm2 stacks snapshot-origin and
snapshot targets over ``-real`` and ``-cow`` layers)."""

from __future__ import annotations

from typing import Optional

from ..model.volumes import LogicalVolume, Segment, VolumeGroup
from . import SegmentType, hide, ref, register


class Snapshot(SegmentType):
    names = ("snapshot",)

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        cow = ref(vg, seg, "merging_store")
        seg.merging = cow is not None
        if cow is None:
            cow = ref(vg, seg, "cow_store")
        origin = ref(vg, seg, "origin")
        seg.origin_lv, seg.cow_lv = origin, cow
        if cow is None or origin is None:
            return
        hide(cow)
        cow.snapshot = seg
        origin.snapshot_segs.append(seg)
        lv.lvm2_status.update(("SNAPSHOT", "VIRTUAL"))
        if seg.merging:
            origin.snapshot = seg
            origin.lvm2_status.add("MERGING")
            hide(lv)

    def refuse_lv(self, lv: LogicalVolume) -> Optional[str]:
        role = "origin" if lv.is_origin else "COW store" if lv.is_cow else None
        if role is None:
            return None
        return (
            f"LV {lv.vg.name}/{lv.name} is a snapshot {role}: snapshot targets cannot be "
            "mapped yet"
        )


register(Snapshot())
