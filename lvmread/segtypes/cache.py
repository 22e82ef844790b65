"""``cache`` and ``cache-pool`` (lvm2's lib/cache_segtype/cache.c); not mapped yet."""

from __future__ import annotations

from typing import Optional

from ..model.volumes import LogicalVolume, Segment, VolumeGroup
from . import SegmentType, area_lv, first_segment, hide, link_pool, ref, register, use


class CachePool(SegmentType):
    names = ("cache-pool",)

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        if seg.raw.get("metadata_format") == 2:
            lv.lvm2_status.add("METADATA_FORMAT")
        link_pool(vg, seg, "data", "CACHE_POOL")

    def chunk_from(self, seg: Segment) -> Optional[Segment]:
        return seg

    def settings_segment(self, seg: Segment) -> Optional[Segment]:
        return seg


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

    def uses_cachevol(self, seg: Segment) -> bool:
        return seg.pool_lv is not None and "CACHE_VOL" in seg.pool_lv.lvm2_status

    def chunk_from(self, seg: Segment) -> Optional[Segment]:
        """Its own with a cachevol, else its cache pool's (one level: lvm2 refuses pools
        that are caches)."""
        if self.uses_cachevol(seg):
            return seg
        pool_seg = first_segment(seg.pool_lv)
        return pool_seg if pool_seg is not None and pool_seg.type != "cache" else None

    def settings_segment(self, seg: Segment) -> Optional[Segment]:
        """Its own with a cachevol, else its cache pool's."""
        return seg if self.uses_cachevol(seg) else first_segment(seg.pool_lv)


register(CachePool())
register(Cache())
