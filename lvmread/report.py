"""Reports in lvm2's own terms: ``lv_attr``, device and extent-range strings, the
fullreport JSON shape and the ``lvs``-like table of ``lvmread ls``.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from .model import LogicalVolume, PhysicalVolume, Segment, VolumeGroup

_ALLOC = {"contiguous": "c", "cling": "l", "normal": "n", "anywhere": "a", "inherit": "i"}


Uses = dict[str, set[tuple[str, str]]]
"""LV name -> the (segment type, key) pairs by which other LVs' segments name it."""

_ROLE_KEYS = ("pool", "metadata", "data", "origin")


def uses_index(vg: VolumeGroup) -> Uses:
    """Who names whom, in one pass over the VG (lv_attr needs it for every LV)."""
    uses: Uses = {}
    for other in vg.lvs.values():
        for seg in other.segments:
            for key in _ROLE_KEYS:
                target = seg.raw.get(key)
                if isinstance(target, str):
                    uses.setdefault(target, set()).add((seg.type, key))
    return uses


def _used_as(uses: Uses, lv: LogicalVolume, types: tuple[str, ...], key: str) -> bool:
    return any((t, key) in uses.get(lv.name, ()) for t in types)


def _role(lv: LogicalVolume, uses: Uses) -> tuple[str, str]:
    """(volume type, target type): the first and seventh characters of lv_attr."""
    types = set(lv.segment_types)
    n = lv.name
    if "PVMOVE" in lv.status:
        return "p", "m"
    if "mirror" in types:
        return ("M" if "NOTSYNCED" in lv.status else "m"), "m"
    if any(t.startswith("raid") for t in types):
        return ("R" if "NOTSYNCED" in lv.status else "r"), "r"
    if "thin-pool" in types:
        return "t", "t"
    if "thin" in types:
        return "V", "t"
    if "snapshot" in types:
        return ("S" if "MERGING" in lv.status else "s"), "s"
    if "cache-pool" in types:
        return "C", "C"
    if "cache" in types:
        return "C", "C"
    if "writecache" in types:
        return "C", "C"
    if "vdo-pool" in types:
        return "d", "V"
    if "vdo" in types:
        return "v", "V"
    if "integrity" in types:
        return "-", "g"
    if "_mimage_" in n:
        return "i", "m"
    if "_mlog" in n:
        return "l", "m"
    if "_rimage_" in n:
        return "i", "r"
    if "_rmeta_" in n:
        return "e", "r"
    if n.endswith("_tdata") or _used_as(uses, lv, ("thin-pool",), "pool"):
        return "T", "t"
    if n.endswith("_tmeta") or _used_as(uses, lv, ("thin-pool",), "metadata"):
        return "e", "t"
    if n.endswith("_cdata") or _used_as(uses, lv, ("cache-pool",), "data"):
        return "C", "C"
    if n.endswith("_cmeta") or _used_as(uses, lv, ("cache-pool",), "metadata"):
        return "e", "C"
    if n == "lvol0_pmspare" or n.endswith("_pmspare"):
        return "e", "-"
    if _used_as(uses, lv, ("snapshot",), "origin"):
        return "o", "s"
    if n.endswith("_corig") or _used_as(uses, lv, ("cache", "writecache"), "origin"):
        return "o", "C"
    if types and types <= {"zero", "error"}:
        return "v", "v"
    if not types <= Segment.KNOWN_TYPES:
        return "-", "u"
    return "-", "-"


def lv_attr(lv: LogicalVolume, uses: Optional[Uses] = None) -> str:
    """lvm2's 10-character ``lv_attr`` as it reads for an LV that is not active.

    Characters 5 and 6 (state, open) are ``-``: an image says nothing of activation.
    Pass ``uses`` (from :func:`uses_index`) when computing it for many LVs of one VG.
    """
    vtype, target = _role(lv, uses if uses is not None else uses_index(lv.vg))
    perm = "w" if "WRITE" in lv.status else "r"
    policy = lv.raw.get("allocation_policy", "inherit")
    alloc = _ALLOC.get(policy if isinstance(policy, str) else "", "i")
    if "LOCKED" in lv.status:
        alloc = alloc.upper()
    minor = "m" if "FIXED_MINOR" in lv.status else "-"
    zero = "-"
    for seg in lv.segments:
        if seg.type == "thin-pool" and seg.raw.get("zero_new_blocks"):
            zero = "z"
    health = "p" if lv.partial else "-"
    skip = "k" if "ACTIVATION_SKIP" in lv.flags else "-"
    return f"{vtype}{perm}{alloc}{minor}--{target}{zero}{health}{skip}"


def segtype(seg: Segment) -> str:
    """The segment type as lvm2 reports it: a one-stripe ``striped`` segment is ``linear``."""
    return "linear" if seg.type == "striped" and len(seg.areas) == 1 else seg.type


def seg_devices(seg: Segment) -> list[tuple[str, int, int]]:
    """(device or LV name, first extent, extent count) of each area, as lvm2 reports them."""
    out = []
    length = seg.area_len
    for area in seg.areas:
        if area.pv is not None:
            out.append((area.pv.name, area.start, length))
        else:
            sub = area.lv
            out.append((area.name, area.start, sub.extent_count if sub is not None else length))
    return out


def devices_field(seg: Segment) -> str:
    """lvm2's ``devices`` field: ``/dev/sda(0),/dev/sdb(0)``."""
    return ",".join(f"{name}({start})" for name, start, _ in seg_devices(seg))


def pe_ranges_field(seg: Segment) -> str:
    """lvm2's ``seg_pe_ranges`` field: ``/dev/sda:0-9 /dev/sdb:0-9``."""
    parts = []
    for area, (name, start, _count) in zip(seg.areas, seg_devices(seg)):
        length = seg.area_len
        if area.pv is None and seg.type.startswith("raid"):
            length = area.lv.extent_count if area.lv is not None else length
        parts.append(f"{name}:{start}-{start + length - 1}")
    return " ".join(parts)


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
    return time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(t))


def _mda_fields(pv: PhysicalVolume) -> dict:
    if pv.device is None:
        return {"pv_mda_count": 0, "pv_mda_size": 0}
    mdas = pv.device.metadata_areas
    return {"pv_mda_count": len(mdas), "pv_mda_size": min((m.size for m in mdas), default=0)}


def vg_report(vg: VolumeGroup) -> dict:
    """One VG in lvm2's ``fullreport`` JSON shape: vg, pv, lv and seg rows."""
    es = vg.extent_size_bytes
    total = sum(pv.pe_count for pv in vg.pvs.values())
    allocs = pv_alloc_counts(vg)
    used = sum(allocs.values())
    uses = uses_index(vg)
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
                "dev_size": pv.device.source.size if pv.device else pv.dev_size * 512,
                "pv_size": pv.pe_count * es if pv.pe_count else pv.dev_size * 512,
                "pv_pe_count": pv.pe_count,
                "pv_pe_alloc_count": alloc,
                "pv_free": (pv.pe_count - alloc) * es,
                "pv_tags": ",".join(sorted(pv.tags)),
                "pv_ba_start": pv.ba_start * 512,
                "pv_ba_size": pv.ba_size * 512,
                "pv_missing": "missing" if pv.missing else "",
                **_mda_fields(pv),
            }
        )
    lv_rows, seg_rows = [], []
    for lv in sorted(vg.lvs.values(), key=lambda x: x.name):
        lv_rows.append(
            {
                "lv_name": lv.display_name,
                "vg_name": vg.name,
                "lv_uuid": lv.uuid,
                "lv_attr": lv_attr(lv, uses),
                "lv_size": lv.size,
                "lv_tags": ",".join(sorted(lv.tags)),
                "lv_time": format_time(lv.creation_time),
                "lv_host": lv.creation_host or "",
                "seg_count": len(lv.segments),
            }
        )
        for seg in lv.segments:
            seg_rows.append(
                {
                    "lv_name": lv.display_name,
                    "lv_uuid": lv.uuid,
                    "segtype": segtype(seg),
                    "seg_start": seg.start_extent * es,
                    "seg_start_pe": seg.start_extent,
                    "seg_size": seg.extent_count * es,
                    "seg_size_pe": seg.extent_count,
                    "stripes": seg.stripes,
                    "stripe_size": seg.stripe_size * 512,
                    "seg_pe_ranges": pe_ranges_field(seg),
                    "devices": devices_field(seg),
                }
            )
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


def table(vgs: list[VolumeGroup]) -> str:
    """The ``lvmread ls`` table: one line per LV (hidden ones in brackets), like ``lvs -a``."""
    head = ("VG", "LV", "Attr", "LSize", "Type", "Devices")
    rows = []
    for vg in vgs:
        uses = uses_index(vg)
        for lv in sorted(vg.lvs.values(), key=lambda x: x.name):
            types = ",".join(dict.fromkeys(segtype(s) for s in lv.segments)) or "-"
            devs = ",".join(devices_field(s) for s in lv.segments if s.areas)
            rows.append(
                (vg.name, lv.display_name, lv_attr(lv, uses), human_size(lv.size), types, devs)
            )
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    right = {3}
    lines = []
    for r in [head, *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
