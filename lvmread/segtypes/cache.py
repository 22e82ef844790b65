"""``cache`` and ``cache-pool`` (lvm2's lib/cache_segtype/cache.c); not mapped yet."""

from __future__ import annotations

from ..model import LogicalVolume, Segment, VolumeGroup
from . import SegmentType, area_lv, hide, link_pool, ref, register, use


class CachePool(SegmentType):
    names = ("cache-pool",)

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        if seg.raw.get("metadata_format") == 2:
            lv.lvm2_status.add("METADATA_FORMAT")
        link_pool(vg, seg, "data", "CACHE_POOL")


class Cache(SegmentType):
    names = ("cache",)

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        st = lv.lvm2_status
        area_lv(seg, ref(vg, seg, "origin"))
        seg.pool_lv = ref(vg, seg, "cache_pool")
        st.add("CACHE")
        if "_corig" in lv.name:
            st.add("PENDING_DELETE")
        if seg.pool_lv is not None:
            if "metadata_start" in seg.raw:
                seg.pool_lv.lvm2_status.add("CACHE_VOL")
            hide(seg.pool_lv)
            if "CACHE_VOL" in seg.pool_lv.lvm2_status:
                st.add("CACHE_USES_CACHEVOL")
            use(seg.pool_lv, seg)


register(CachePool())
register(Cache())
