"""The raid types (lvm2's lib/raid/raid.c): data images and ``_rmeta_`` sub-LVs; not
mapped yet (the dm-raid target is to come)."""

from __future__ import annotations

from ..model.volumes import LogicalVolume, Segment, VolumeGroup
from . import FAMILIES, SegmentType, int_key, register, use

RAID_PARITY = {
    "raid0": 0, "raid0_meta": 0, "raid1": 0, "raid10": 0, "raid10_near": 0, "raid4": 1,
    "raid5": 1, "raid5_n": 1, "raid5_la": 1, "raid5_ls": 1, "raid5_ra": 1, "raid5_rs": 1,
    "raid6": 2, "raid6_n_6": 2, "raid6_nc": 2, "raid6_nr": 2, "raid6_zr": 2, "raid6_ls_6": 2,
    "raid6_rs_6": 2, "raid6_la_6": 2, "raid6_ra_6": 2,
}  # fmt: skip
"""Parity images of each raid type (lvm2's lib/raid/raid.c table)."""
# lv_layout words after "raid" for each raid type ("raid5" is lvm2's raid5_ls, "raid6" its
# raid6_zr, "raid10_near" its raid10; raid0_meta, raid5_n and the raid6_*_6 types add only
# their level or nothing)
RAID_LAYOUT = {
    "raid0": ("raid0",), "raid1": ("raid1",), "raid10": ("raid10",),
    "raid10_near": ("raid10",), "raid4": ("raid4",), "raid5": ("raid5", "raid5_ls"),
    "raid5_ls": ("raid5", "raid5_ls"), "raid5_la": ("raid5", "raid5_la"),
    "raid5_rs": ("raid5", "raid5_rs"), "raid5_ra": ("raid5", "raid5_ra"), "raid5_n": ("raid5",),
    "raid6": ("raid6", "raid6_zr"), "raid6_zr": ("raid6", "raid6_zr"),
    "raid6_nr": ("raid6", "raid6_nr"), "raid6_nc": ("raid6", "raid6_nc"),
    "raid6_la_6": ("raid6",), "raid6_ls_6": ("raid6",), "raid6_ra_6": ("raid6",),
    "raid6_rs_6": ("raid6",), "raid6_n_6": ("raid6",),
}  # fmt: skip


class Raid(SegmentType):
    names = FAMILIES["raid"]
    is_raid = True

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        for area in seg.areas:
            if area.lv is not None and "_rmeta_" in area.name:
                area.lv.lvm2_status.add("RAID_META")
                seg.meta_areas.append(area)
                use(area.lv, seg)
            else:
                seg.data_areas.append(area)
                if area.lv is not None:
                    area.lv.lvm2_status.add("RAID_IMAGE")
                    use(area.lv, seg)
        lv.lvm2_status.add("RAID")
        if seg.type in ("raid1", "raid10", "raid10_near"):
            lv.lvm2_status.add("MIRRORED")

    def parity_devs(self, seg: Segment) -> int:
        return RAID_PARITY.get(seg.type, 0)

    def data_copies(self, seg: Segment) -> int:
        """2 for raid10, the image count for raid1, parity + 1 for striped raid (the
        segment's own ``data_copies`` key wins when >= 2)."""
        n = int_key(seg, "data_copies")
        if n is not None and n >= 2:
            return n
        if seg.type.startswith("raid10"):
            return 2
        if seg.type == "raid1":
            return len(seg.data_areas)
        return self.parity_devs(seg) + 1

    def data_stripes(self, seg: Segment) -> int:
        """Less parity (divided by the copies for raid10)."""
        n = max(0, super().data_stripes(seg) - self.parity_devs(seg))
        if seg.type in ("raid10", "raid10_near"):
            n //= max(1, self.data_copies(seg))
        return n

    def area_len(self, seg: Segment) -> int:
        n = len(seg.data_areas)
        if not n or seg.type == "raid1":
            return seg.extent_count
        if seg.type in ("raid0", "raid0_meta"):
            return seg.extent_count // n
        # raid_rimage_extents(): extents (times the copies of raid10) over the data images
        extents = seg.extent_count * (self.data_copies(seg) if seg.type.startswith("raid10") else 1)
        return -(-extents // max(1, n - self.parity_devs(seg)))

    def layout(self, seg: Segment) -> tuple[str, ...]:
        return RAID_LAYOUT.get(seg.type, ())

    def region_size(self, seg: Segment) -> int:
        return int_key(seg, "region_size") or 0


register(Raid())
