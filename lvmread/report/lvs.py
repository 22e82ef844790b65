"""Reports in lvm2's own terms: ``lv_attr``, ``lv_layout``/``lv_role``, device and
extent-range strings, the fullreport JSON shape and the ``lvs``-like table of ``lvmread ls``.

Each field follows the lvm2 function that makes it (lib/metadata/lv.c, lib/report/report.c,
lib/metadata/lv_manip.c) over the roles :mod:`lvmread.model.volumes` gives LVs and segments
as lvm2's metadata import does.

lvmread reads disks, not a running system, so it reports every LV as lvm2 does for an LV
that is **not active**. Where lvm2 asks the kernel, that gives:

* ``lv_attr`` characters 5 and 6 (state, open): ``-``;
* ``lv_attr`` character 1 of a raid or mirror image: ``I`` (lvm2 takes an image it cannot
  ask the kernel about as not in sync; only a mirror of one leg is in sync without asking);
* ``lv_attr`` character 9 (health): only what the metadata says (``p`` partial, ``R`` images
  freed by a reshape, ``w`` write-mostly images); the kernel's states (raid ``r``/``m``/``s``,
  pool/cache ``F``/``D``/``M``, thin ``F``, writecache ``E``) never show;
* fields that only a live device has (``data_offset``, percentages, kernel cache settings)
  are left out.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from ..limits import SECTOR_SIZE
from ..model.volumes import LogicalVolume, PhysicalVolume, Segment, VolumeGroup
from ..segtypes import handler

# lvm2's allocation policies and their lv_attr characters (lib/display/display.c)
_ALLOC = {
    "contiguous": "c",
    "cling": "l",
    "cling_by_tags": "t",
    "normal": "n",
    "anywhere": "a",
    "inherit": "i",
}
_CACHE_TYPE = frozenset(
    {"CACHE", "CACHE_POOL", "CACHE_VOL", "CACHE_POOL_DATA", "CACHE_POOL_METADATA"}
)
_RAID_TYPE = frozenset({"RAID", "RAID_IMAGE", "RAID_META"})
_MIRROR_TYPE = frozenset({"MIRROR", "MIRROR_LOG", "MIRROR_IMAGE"})
_THIN_TYPE = frozenset({"THIN_POOL", "THIN_VOLUME", "THIN_POOL_DATA", "THIN_POOL_METADATA"})
_VDO_TYPE = frozenset({"VDO", "VDO_POOL", "VDO_POOL_DATA"})
_CACHE_MODES = ("writethrough", "writeback", "passthrough")
_DISCARDS = ("ignore", "nopassdown", "passdown")


def _has(lv: LogicalVolume, bits: frozenset) -> bool:
    return not bits.isdisjoint(lv.lvm2_status)


def _first(lv: Optional[LogicalVolume]) -> Optional[Segment]:
    return lv.segments[0] if lv is not None and lv.segments else None


# ------------------------------------------------------------------------------ lv_attr


def _mirror_image_in_sync(lv: LogicalVolume) -> bool:
    """lvm2's ``lv_mirror_image_in_sync`` for an inactive mirror: only a mirror of one
    segment with one leg counts as in sync without asking the kernel."""
    seg = _first(lv)
    mirror = seg.lv.users[0].lv if seg is not None and len(seg.lv.users) == 1 else None
    return mirror is not None and len(mirror.segments) == 1 and mirror.segments[0].stripes == 1


def _volume_type(lv: LogicalVolume) -> str:
    """lv_attr character 1 (lvm2's ``lv_attr_dup_with_info_and_seg_status``)."""
    s = lv.lvm2_status
    if "PVMOVE" in s:
        return "p"
    if "CONVERTING" in s:
        return "c"
    if lv.is_origin or lv.external_count:
        return "O" if lv.is_merging_origin else "o"
    if not s.isdisjoint(
        (
            "THIN_POOL_METADATA",
            "CACHE_POOL_METADATA",
            "POOL_METADATA_SPARE",
            "RAID_META",
            "INTEGRITY_METADATA",
        )
    ):
        return "e"
    if _has(lv, _CACHE_TYPE) or "WRITECACHE" in s:
        return "C"
    if "INTEGRITY" in s:
        return "g"
    if "RAID" in s:
        return "R" if "NOTSYNCED" in s else "r"
    if "MIRROR" in s:
        return "M" if "NOTSYNCED" in s else "m"
    if "THIN_VOLUME" in s:
        if lv.is_merging_origin:
            return "O"
        seg = _first(lv)
        return "S" if seg is not None and seg.merging else "V"
    if "VDO_POOL" in s:
        return "d"
    if "VDO_POOL_DATA" in s:
        return "D"
    if "VIRTUAL" in s:
        return "v"
    if "THIN_POOL" in s:
        return "t"
    if "THIN_POOL_DATA" in s:
        return "T"
    if "MIRROR_IMAGE" in s:
        return "i" if _mirror_image_in_sync(lv) else "I"
    if "RAID_IMAGE" in s:
        # lv_raid_image_in_sync() takes an image that is not active as not in sync
        return "I"
    if "MIRROR_LOG" in s:
        return "l"
    if lv.is_cow:
        return "S" if lv.is_merging_cow else "s"
    if lv.is_cache_origin or lv.is_writecache_origin:
        return "o"
    return "-"


def _target_type(lv: LogicalVolume) -> str:
    """lv_attr character 7."""
    s = lv.lvm2_status
    if "THIN_POOL" in s or "THIN_VOLUME" in s:
        return "t"
    if (
        not s.isdisjoint(("CACHE_POOL", "CACHE_VOL", "CACHE", "WRITECACHE"))
        or lv.is_cache_origin
        or lv.is_writecache_origin
    ):
        return "C"
    if _has(lv, _RAID_TYPE):
        return "r"
    if _has(lv, _MIRROR_TYPE) or "PVMOVE" in s:
        return "m"
    if lv.is_cow or lv.is_origin:
        return "s"
    if any(not seg.known for seg in lv.segments):
        return "u"
    if "VIRTUAL" in s:
        return "v"
    return "-"


def _zero(lv: LogicalVolume) -> str:
    """lv_attr character 8: ``z`` when the thin pool (of a thin volume) zeroes new blocks."""
    seg = _first(lv)
    if "THIN_VOLUME" in lv.lvm2_status:
        seg = _first(seg.pool_lv) if seg is not None else None
    elif "THIN_POOL" not in lv.lvm2_status:
        return "-"
    return "z" if seg is not None and seg.type == "thin-pool" and _zero_new_blocks(seg) else "-"


def _health(lv: LogicalVolume) -> str:
    """lv_attr character 9, as far as the metadata tells it."""
    if lv.partial:
        return "p"
    s = lv.lvm2_status
    if _has(lv, _RAID_TYPE):
        if "RAID" in s:
            seg = _first(lv)
            areas = seg.data_areas[1:] if seg is not None else []
            if any(a.lv is not None and "REMOVE_AFTER_RESHAPE" in a.lv.lvm2_status for a in areas):
                return "R"
        elif "WRITEMOSTLY" in s:
            return "w"
        elif "REMOVE_AFTER_RESHAPE" in s:
            return "R"
    return "-"


def lv_attr(lv: LogicalVolume) -> str:
    """lvm2's 10-character ``lv_attr`` for ``lv`` not active (see the module's notes)."""
    s = lv.lvm2_status
    if "PVMOVE" in s:
        perm = "-"
    elif "WRITE" in s:
        perm = "w"
    elif "READ" in s:
        perm = "r"
    else:
        perm = "-"
    policy = lv.raw.get("allocation_policy", "inherit")
    alloc = _ALLOC.get(policy if isinstance(policy, str) else "", "i")
    if "LOCKED" in s:
        alloc = alloc.upper()
    minor = "m" if "FIXED_MINOR" in s else "-"
    skip = "k" if "ACTIVATION_SKIP" in s else "-"
    return (
        f"{_volume_type(lv)}{perm}{alloc}{minor}--{_target_type(lv)}{_zero(lv)}{_health(lv)}{skip}"
    )


# ---------------------------------------------------------------------- layout and role


def lv_layout_and_role(lv: LogicalVolume) -> tuple[list[str], list[str]]:
    """lvm2's ``lv_layout`` and ``lv_role`` lists (``lv_layout_and_role``)."""
    s = lv.lvm2_status
    layout: list[str] = []
    role: list[str] = []
    public = True

    def add(to: list[str], *words: str) -> None:
        for w in words:
            if w not in to:
                to.append(w)

    if _has(lv, _MIRROR_TYPE) or "PVMOVE" in s:
        if "MIRROR_IMAGE" in s:
            add(role, "mirror", "image")
            public = False
        elif "MIRROR_LOG" in s:
            add(role, "mirror", "log")
            if "MIRRORED" in s:
                add(layout, "mirror")
            public = False
        elif "PVMOVE" in s:
            add(role, "pvmove")
            add(layout, "mirror")
            public = False
        else:
            add(layout, "mirror")
    if _has(lv, _RAID_TYPE):
        if "RAID_IMAGE" in s:
            add(role, "raid", "image")
            public = False
        elif "RAID_META" in s:
            add(role, "raid", "metadata")
            public = False
        elif "PVMOVE" in s:
            add(role, "pvmove")
            add(layout, "raid")
            public = False
        else:
            add(layout, "raid")
            seg = _first(lv)
            if seg is not None:
                add(layout, *handler(seg.type).layout(seg))
    if _has(lv, _THIN_TYPE) or lv.external_count:
        if "THIN_POOL_METADATA" in s:
            add(role, "thin", "pool", "metadata")
            public = False
        elif "THIN_POOL_DATA" in s:
            add(role, "thin", "pool", "data")
            public = False
        else:
            if "THIN_VOLUME" in s:
                add(layout, "thin", "sparse")
                snaps = lv.thin_snapshot_count()
                if snaps:
                    add(role, "origin", "thinorigin")
                    if snaps > 1:
                        add(role, "multithinorigin")
                if lv.is_thin_snapshot:
                    add(role, "snapshot", "thinsnapshot")
            elif "THIN_POOL" in s:
                add(layout, "thin", "pool")
                public = False
            if lv.external_count:
                add(role, "origin", "extthinorigin")
                if lv.external_count > 1:
                    add(role, "multiextthinorigin")
    cache_origin = lv.is_cache_origin
    wc_origin = lv.is_writecache_origin
    if _has(lv, _CACHE_TYPE) or cache_origin or wc_origin or "WRITECACHE" in s:
        if "CACHE_POOL_METADATA" in s:
            add(role, "cache", "pool", "metadata")
            public = False
        elif "CACHE_POOL_DATA" in s:
            add(role, "cache", "pool", "data")
            if "CACHE" in s:
                add(layout, "cache")
            public = False
        elif cache_origin:
            add(role, "cache", "origin", "cacheorigin")
            if "CACHE" in s:
                add(layout, "cache")
            public = False
        elif wc_origin:
            add(role, "writecache", "origin", "writecacheorigin")
            if "WRITECACHE" in s:
                add(layout, "writecache")
            public = False
        elif "CACHE" in s:
            add(layout, "cache")
        elif "WRITECACHE" in s:
            add(layout, "writecache")
        elif lv.is_writecache_cachevol:
            add(layout, "writecache", "cachevol")
            public = False
        elif "CACHE_VOL" in s:
            add(layout, "cache", "cachevol")
            public = False
        elif "CACHE_POOL" in s:
            add(layout, "cache", "pool")
            public = False
    integrity_origin = lv.is_integrity_origin
    if "INTEGRITY" in s or "INTEGRITY_METADATA" in s or integrity_origin:
        if "INTEGRITY_METADATA" in s:
            add(role, "integrity", "metadata")
            public = False
        elif integrity_origin:
            add(role, "integrity", "origin", "integrityorigin")
            public = False
        elif "INTEGRITY" in s:
            add(layout, "integrity")
    if _has(lv, _VDO_TYPE):
        if "VDO_POOL" in s:
            add(layout, "vdo", "pool")
            public = False
        elif "VDO_POOL_DATA" in s:
            add(role, "vdo", "pool", "data")
            public = False
        elif "VDO" in s:
            add(layout, "vdo", "sparse")
    if "POOL_METADATA_SPARE" in s:
        add(role, "pool", "spare")
        public = False
    if lv.is_origin:
        add(role, "origin", "thickorigin")
        if "VIRTUAL" in s and "THIN_VOLUME" not in s:
            add(layout, "virtual")
            public = False
        if len(lv.snapshot_segs) > 1:
            add(role, "multithickorigin")
    elif lv.is_cow:
        add(role, "snapshot", "thicksnapshot")
    if "LOCKD_SANLOCK_LV" in s:
        add(role, "lockd", "sanlock")
        public = False
    if not layout:
        # linear and/or striped (a "linear" segment type is lvm2's striped target too)
        plain = {handler(seg.type).plain_layout(seg) for seg in lv.segments}
        layout += [word for word in ("linear", "striped") if word in plain]
        if not layout:
            layout.append("unknown")
    role.insert(0, "public" if public else "private")
    return layout, role


# ---------------------------------------------------------------------- LV relations


def lv_origin(lv: LogicalVolume) -> Optional[LogicalVolume]:
    """lvm2's ``lv_origin_lv``: the origin of a snapshot, thin snapshot, cache, writecache
    or integrity LV."""
    seg = _first(lv)
    s = lv.lvm2_status
    if lv.is_cow:
        return lv.origin_of_cow
    if seg is None:
        return None
    if "CACHE" in s and "PENDING_DELETE" not in s:
        return seg.data_areas[0].lv if seg.data_areas else None
    if "THIN_VOLUME" in s:
        return seg.origin_lv or seg.external_lv
    if "WRITECACHE" in s or "INTEGRITY" in s:
        return seg.origin_lv
    return None


def lv_pool(lv: LogicalVolume) -> Optional[LogicalVolume]:
    """lvm2's ``lv_pool_lv``: the thin pool, cache pool (or cachevol), vdo pool or writecache."""
    seg = _first(lv)
    s = lv.lvm2_status
    if seg is None:
        return None
    if "THIN_VOLUME" in s or "CACHE" in s:
        return seg.pool_lv
    if "VDO" in s:
        return seg.data_areas[0].lv if seg.data_areas else None
    if "WRITECACHE" in s:
        return seg.writecache_lv
    return None


def lv_data(lv: LogicalVolume) -> Optional[LogicalVolume]:
    """lvm2's ``lv_data_lv``: the data LV of a thin, cache or vdo pool."""
    seg = _first(lv)
    if seg is None or lv.lvm2_status.isdisjoint(("CACHE_POOL", "THIN_POOL", "VDO_POOL")):
        return None
    return seg.data_areas[0].lv if seg.data_areas else None


def lv_metadata(lv: LogicalVolume) -> Optional[LogicalVolume]:
    """lvm2's ``lv_metadata_lv``: the metadata LV of a thin or cache pool."""
    seg = _first(lv)
    if seg is None or lv.lvm2_status.isdisjoint(("CACHE_POOL", "THIN_POOL")):
        return None
    return seg.metadata_lv


def lv_metadata_size(lv: LogicalVolume) -> Optional[int]:
    """lvm2's ``lv_metadata_size`` in bytes: a pool's metadata LV, a cachevol's metadata
    area; None where lvm2 leaves the field blank."""
    seg = _first(lv)
    if seg is None:
        return None
    if _uses_cachevol(seg):
        n = seg.raw.get("metadata_len")
        return n * SECTOR_SIZE if isinstance(n, int) else 0
    if not lv.lvm2_status.isdisjoint(("THIN_POOL", "CACHE_POOL")):
        return seg.metadata_lv.size if seg.metadata_lv is not None else 0
    return None


def _name(lv: Optional[LogicalVolume]) -> str:
    return lv.display_name if lv is not None else ""


# ------------------------------------------------------------------------ segment fields


def segtype(seg: Segment) -> str:
    """The segment type as lvm2 reports it: a one-stripe ``striped`` segment is ``linear``."""
    return handler(seg.type).report_name(seg)


def _uses_cachevol(seg: Segment) -> bool:
    return handler(seg.type).uses_cachevol(seg)


def _area_items(seg: Segment, ranges: bool, meta: bool = False, brackets: bool = False):
    """lvm2's ``_format_pvsegs``: one item per area, ``name(extent)`` or ``name:first-last``.

    A PV area gives its first extent and the segment's area length; an LV area gives
    extent 0 and the whole sub-LV, as lvm2 does.
    """
    if meta:
        if not seg.is_raid or seg.type == "raid0" or not seg.meta_areas:
            return []
        if not seg.lv.lvm2_status.isdisjoint(("RAID_META", "RAID_IMAGE")):
            return []
        areas = seg.meta_areas
    else:
        areas = seg.data_areas
    out = []
    for i, area in enumerate(areas):
        if area.lv is not None:
            name = area.lv.name
            hidden = brackets and not area.lv.visible
            length = area.lv.extent_count
            start = 0
            if meta and i < len(seg.data_areas):
                start = seg.data_areas[i].start
        elif area.pv is not None:
            if meta:
                continue
            name, hidden, start, length = area.pv.name, False, area.start, seg.area_len
        else:
            name, hidden, start, length = "unassigned", False, 0, 0
        if hidden:
            name = f"[{name}]"
        out.append(f"{name}:{start}-{start + length - 1}" if ranges else f"{name}({start})")
    return out


def devices_field(seg: Segment) -> str:
    """lvm2's ``devices`` field: ``/dev/sda(0),/dev/sdb(0)``."""
    return ",".join(_area_items(seg, ranges=False))


def pe_ranges_field(seg: Segment) -> str:
    """lvm2's ``seg_pe_ranges`` field: ``/dev/sda:0-9 /dev/sdb:0-9``."""
    return " ".join(_area_items(seg, ranges=True))


def le_ranges_field(seg: Segment) -> str:
    """lvm2's ``seg_le_ranges`` field: hidden sub-LVs in brackets, items joined by commas."""
    return ",".join(_area_items(seg, ranges=True, brackets=True))


def metadata_devices_field(seg: Segment) -> str:
    """lvm2's ``metadata_devices``: a raid segment's ``_rmeta_`` sub-LVs."""
    return ",".join(_area_items(seg, ranges=False, meta=True))


def metadata_le_ranges_field(seg: Segment) -> str:
    """lvm2's ``seg_metadata_le_ranges``."""
    return ",".join(_area_items(seg, ranges=True, meta=True, brackets=True))


def _int_key(seg: Optional[Segment], key: str) -> Optional[int]:
    v = seg.raw.get(key) if seg is not None else None
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def chunk_size(seg: Segment) -> int:
    """lvm2's ``lvseg_chunksize`` in sectors: a COW store's snapshot chunk, a pool's chunk,
    a cache's (from its cachevol segment or its cache pool)."""
    if seg.lv.is_cow and seg.lv.snapshot is not None:
        return _int_key(seg.lv.snapshot, "chunk_size") or 0
    src = handler(seg.type).chunk_from(seg)
    if src is seg:
        return _int_key(seg, "chunk_size") or 0
    return chunk_size(src) if src is not None else 0


def region_size(seg: Segment) -> int:
    """A mirror or raid segment's region size in sectors (0 for other types)."""
    return handler(seg.type).region_size(seg)


def _cache_settings_seg(seg: Segment) -> Optional[Segment]:
    """The segment holding a cache's settings: its own with a cachevol, else its pool's."""
    return handler(seg.type).settings_segment(seg)


def _pool_defaults(setting: Segment) -> bool:
    """lvm2 fills in a used cache pool's missing settings (``_fix_missing_defaults``)."""
    return setting.type == "cache-pool" and bool(setting.lv.users)


def cache_mode(seg: Segment) -> str:
    setting = _cache_settings_seg(seg)
    if setting is None:
        return ""
    mode = setting.raw.get("cache_mode")
    if isinstance(mode, str) and mode.lower() in _CACHE_MODES:
        return mode.lower()
    return "writethrough" if _pool_defaults(setting) else ""


def cache_policy(seg: Segment) -> str:
    setting = _cache_settings_seg(seg)
    if setting is None:
        return ""
    policy = setting.raw.get("policy")
    if isinstance(policy, str):
        return policy
    return "mq" if _pool_defaults(setting) else ""


def cache_metadata_format(seg: Segment) -> Optional[int]:
    setting = _cache_settings_seg(seg)
    if setting is None:
        return None
    fmt = _int_key(setting, "metadata_format")
    if fmt in (1, 2):
        return fmt
    return 1 if _pool_defaults(setting) else None


def _thin_pool_seg(seg: Segment) -> Optional[Segment]:
    return handler(seg.type).thin_pool(seg)


def _zero_new_blocks(pool_seg: Segment) -> bool:
    return bool(_int_key(pool_seg, "zero_new_blocks"))


def discards(seg: Segment) -> str:
    pool_seg = _thin_pool_seg(seg)
    if pool_seg is None:
        return ""
    d = pool_seg.raw.get("discards")
    if d is None:
        return "ignore"
    return d if d in _DISCARDS else "unknown"


def zero(seg: Segment) -> Optional[bool]:
    """lvm2's ``zero`` field: whether the thin pool zeroes new blocks; None ("unknown")
    for segments that are no thin pool or thin volume."""
    pool_seg = _thin_pool_seg(seg)
    return _zero_new_blocks(pool_seg) if pool_seg is not None else None


_ZERO_FIELD = {True: "zero", False: "", None: "unknown"}
"""The text lvm2 reports for each answer of :func:`zero`."""


def pv_alloc_counts(vg: VolumeGroup) -> dict[str, int]:
    """Extents of each PV (by its metadata key) that segments use."""
    counts = dict.fromkeys(vg.pvs, 0)
    for lv in vg.lvs.values():
        for seg in lv.segments:
            for area in seg.areas:
                if area.pv is not None:
                    counts[area.pv.key] += seg.area_len
    return counts


def format_time(t: Any) -> str:
    """lvm2's ``lv_time`` format: ``2026-11-27 09:01:52 +0000``."""
    if not isinstance(t, int):
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(t))
    except (OverflowError, OSError, ValueError):  # a damaged time no calendar holds
        return str(t)


def _mda_fields(pv: PhysicalVolume) -> dict:
    if pv.device is None:
        return {"pv_mda_count": 0, "pv_mda_size": 0}
    mdas = pv.device.metadata_areas
    return {"pv_mda_count": len(mdas), "pv_mda_size": min((m.size for m in mdas), default=0)}


def reported_lvs(vg: VolumeGroup) -> list[LogicalVolume]:
    """The LVs ``lvs -a`` lists, by name: all but the internal ``snapshotN`` LVs."""
    return sorted((lv for lv in vg.lvs.values() if lv.reported), key=lambda x: x.name)


def lv_row(lv: LogicalVolume) -> dict:
    """One LV in lvm2's report terms (the ``lv`` rows of ``fullreport``)."""
    layout, role = lv_layout_and_role(lv)
    pool = "THIN_POOL" in lv.lvm2_status
    return {
        "lv_name": lv.display_name,
        "vg_name": lv.vg.name,
        "lv_uuid": lv.uuid,
        "lv_attr": lv_attr(lv),
        "lv_layout": ",".join(layout),
        "lv_role": ",".join(role),
        "lv_size": lv.size,
        "lv_tags": ",".join(sorted(lv.tags)),
        "lv_time": format_time(lv.creation_time),
        "lv_host": lv.creation_host or "",
        "seg_count": len(lv.segments),
        "origin": _name(lv_origin(lv)),
        "pool_lv": _name(lv_pool(lv)),
        "data_lv": _name(lv_data(lv)),
        "metadata_lv": _name(lv_metadata(lv)),
        "lv_metadata_size": lv_metadata_size(lv),
        "lv_skip_activation": "skip activation" if "ACTIVATION_SKIP" in lv.lvm2_status else "",
        "lv_when_full": (
            ("error" if "ERROR_WHEN_FULL" in lv.lvm2_status else "queue") if pool else ""
        ),
    }


def seg_row(seg: Segment) -> dict:
    """One segment in lvm2's report terms (the ``seg`` rows of ``fullreport``); sizes in
    bytes, numbers lvm2 leaves blank for this segment type as None, every other field
    the string lvm2 prints."""
    lv = seg.lv
    es = lv.vg.extent_size_bytes
    thin_id, transaction_id = handler(seg.type).seg_fields(seg)
    return {
        "lv_name": lv.display_name,
        "lv_uuid": lv.uuid,
        "segtype": segtype(seg),
        "seg_start": seg.start_extent * es,
        "seg_start_pe": seg.start_extent,
        "seg_size": seg.extent_count * es,
        "seg_size_pe": seg.extent_count,
        "stripes": seg.stripes,
        "data_stripes": seg.data_stripes,
        "stripe_size": seg.stripe_size * SECTOR_SIZE,
        "region_size": region_size(seg) * SECTOR_SIZE,
        "chunk_size": chunk_size(seg) * SECTOR_SIZE,
        "seg_pe_ranges": pe_ranges_field(seg),
        "seg_le_ranges": le_ranges_field(seg),
        "devices": devices_field(seg),
        "metadata_devices": metadata_devices_field(seg),
        "seg_metadata_le_ranges": metadata_le_ranges_field(seg),
        "thin_id": thin_id,
        "transaction_id": transaction_id,
        "discards": discards(seg),
        "zero": _ZERO_FIELD[zero(seg)],
        "cache_mode": cache_mode(seg),
        "cache_policy": cache_policy(seg),
        "cache_metadata_format": cache_metadata_format(seg),
    }


def vg_report(vg: VolumeGroup) -> dict:
    """One VG in lvm2's ``fullreport`` JSON shape: vg, pv, lv and seg rows."""
    es = vg.extent_size_bytes
    total = sum(pv.pe_count for pv in vg.pvs.values())
    allocs = pv_alloc_counts(vg)
    used = sum(allocs.values())
    vg_row = {
        "vg_name": vg.name,
        "vg_uuid": vg.uuid,
        "vg_seqno": vg.seqno,
        "vg_extent_size": es,
        "vg_extent_count": total,
        "vg_free_count": total - used,
        "vg_size": total * es,
        "vg_free": (total - used) * es,
        "pv_count": len(vg.pvs),
        "lv_count": sum(1 for lv in vg.lvs.values() if lv.visible),
        "snap_count": sum(1 for lv in vg.lvs.values() if lv.is_cow),
        "vg_tags": ",".join(sorted(vg.tags)),
        "vg_missing_pv_count": len(vg.missing_pvs),
    }
    pv_rows = []
    for pv in vg.pvs.values():
        alloc = allocs[pv.key]
        pv_rows.append(
            {
                "pv_name": pv.name,
                "vg_name": vg.name,
                "pv_uuid": pv.uuid,
                "pe_start": pv.pe_start_bytes,
                "dev_size": pv.device.source.size if pv.device else pv.dev_size * SECTOR_SIZE,
                "pv_size": pv.pe_count * es if pv.pe_count else pv.dev_size * SECTOR_SIZE,
                "pv_pe_count": pv.pe_count,
                "pv_pe_alloc_count": alloc,
                "pv_free": (pv.pe_count - alloc) * es,
                "pv_tags": ",".join(sorted(pv.tags)),
                "pv_ba_start": pv.ba_start * SECTOR_SIZE,
                "pv_ba_size": pv.ba_size * SECTOR_SIZE,
                "pv_missing": "missing" if pv.missing else "",
                **_mda_fields(pv),
            }
        )
    lv_rows, seg_rows = [], []
    for lv in reported_lvs(vg):
        lv_rows.append(lv_row(lv))
        seg_rows.extend(seg_row(seg) for seg in lv.segments)
    return {"vg": [vg_row], "pv": pv_rows, "lv": lv_rows, "seg": seg_rows}


def full_report(vgs: list[VolumeGroup]) -> dict:
    """lvm2's ``fullreport`` shape: ``{"report": [one entry per VG]}``."""
    return {"report": [vg_report(vg) for vg in vgs]}


def human_size(n: int) -> str:
    """A size the way ``lvs`` prints it by default: ``12.00m``."""
    units = "kmgtpe"
    v = float(n)
    unit = ""
    for u in units:
        if v < 1024:
            break
        v /= 1024
        unit = u
    if not unit:
        return f"{int(v)}b" if n else "0 "
    return f"{v:.2f}{unit}"


def _cell(text: str) -> str:
    """``text`` on one line of a terminal whatever an input's path holds: an unprintable
    character as a backslash escape, a non-UTF-8 path's raw byte as ``\\xHH``."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable()
        else f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF
        else c.encode("unicode_escape").decode()
        for c in text
    )


def table(vgs: list[VolumeGroup]) -> str:
    """The ``lvmread ls`` table: one line per LV (hidden ones in brackets), like ``lvs -a``."""
    head = ("VG", "LV", "Attr", "LSize", "Type", "Devices")
    rows = []
    for vg in vgs:
        for lv in reported_lvs(vg):
            types = ",".join(dict.fromkeys(segtype(s) for s in lv.segments)) or "-"
            devs = _cell(",".join(devices_field(s) for s in lv.segments if s.data_areas))
            rows.append((vg.name, lv.display_name, lv_attr(lv), human_size(lv.size), types, devs))
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    right = {3}
    lines = []
    for r in [head, *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def write_json(report: dict, out) -> None:
    """Write a ``{"report": [{kind: [rows]}]}`` report as lvm2 lays it out: one row per line.

    (``json.dump`` with ``indent`` runs the pure-Python encoder: several times slower on
    a VG with thousands of LVs than encoding each row with the C encoder.)
    """
    import json

    out.write('{\n  "report": [')
    for i, entry in enumerate(report["report"]):
        out.write(",\n    {" if i else "\n    {")
        for j, (kind, rows) in enumerate(entry.items()):
            out.write(f'{"," if j else ""}\n      {json.dumps(kind)}: [')
            out.write(",".join("\n        " + json.dumps(row) for row in rows))
            out.write("\n      ]" if rows else "]")
        out.write("\n    }")
    out.write("\n  ]\n}\n")
