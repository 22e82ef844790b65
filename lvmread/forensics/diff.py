"""What changed in a VG between two versions of its metadata (``lvmread diff``).

LVs are matched by uuid, so a rename is a rename and not a removal plus a creation.
Reported: LVs created, removed, renamed, resized, and otherwise changed (segments
moved, status, flags or tags); PVs added, removed and resized; VG-level changes; and
the versions in between with the command that wrote each (their ``description``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..errors import UsageError
from ..report.printable import printable

if TYPE_CHECKING:
    from ..model.volumes import LogicalVolume, VolumeGroup
    from ..vgread.copies import Version
    from ..vgread.history import Disks, History


def _layout(lv: LogicalVolume) -> list[tuple]:
    out = []
    for seg in lv.segments:
        areas = tuple((a.pv.uuid if a.pv is not None else a.name, a.start) for a in seg.areas)
        out.append((seg.start_extent, seg.extent_count, seg.type, seg.stripe_size, areas))
    return out


def _lv_info(lv: LogicalVolume) -> dict[str, Any]:
    return {
        "name": lv.name,
        "uuid": lv.uuid,
        "size": lv.size,
        "extents": lv.extent_count,
        "visible": lv.visible,
        "segtypes": sorted(set(lv.segment_types)),
        "creation_time": lv.creation_time,
    }


def diff_vgs(a: VolumeGroup, b: VolumeGroup) -> dict[str, Any]:
    """The changes from ``a`` to ``b`` (two versions of one VG) as a JSON-able dict."""
    a_lvs = {lv.uuid: lv for lv in a.lvs.values()}
    b_lvs = {lv.uuid: lv for lv in b.lvs.values()}
    created = [_lv_info(b_lvs[u]) for u in b_lvs if u not in a_lvs]
    removed = [_lv_info(a_lvs[u]) for u in a_lvs if u not in b_lvs]
    renamed, resized, changed = [], [], []
    for u, old in a_lvs.items():
        new = b_lvs.get(u)
        if new is None:
            continue
        if old.name != new.name:
            renamed.append({"uuid": u, "from": old.name, "to": new.name})
        if old.extent_count != new.extent_count or old.size != new.size:
            resized.append(
                {
                    "name": new.name,
                    "uuid": u,
                    "from_size": old.size,
                    "to_size": new.size,
                    "from_extents": old.extent_count,
                    "to_extents": new.extent_count,
                }
            )
        what = []
        if old.extent_count == new.extent_count and _layout(old) != _layout(new):
            what.append("segments")
        for attr in ("status", "flags", "tags"):
            if sorted(getattr(old, attr)) != sorted(getattr(new, attr)):
                what.append(attr)
        if what:
            changed.append({"name": new.name, "uuid": u, "changed": what})
    a_pvs = {pv.uuid: pv for pv in a.pvs.values()}
    b_pvs = {pv.uuid: pv for pv in b.pvs.values()}
    pvs = {
        "added": [{"uuid": u, "device": p.device_hint} for u, p in b_pvs.items() if u not in a_pvs],
        "removed": [
            {"uuid": u, "device": p.device_hint} for u, p in a_pvs.items() if u not in b_pvs
        ],
        "resized": [
            {"uuid": u, "from_pe_count": p.pe_count, "to_pe_count": b_pvs[u].pe_count}
            for u, p in a_pvs.items()
            if u in b_pvs and p.pe_count != b_pvs[u].pe_count
        ],
    }
    vg: dict[str, Any] = {}
    if a.name != b.name:
        vg["renamed"] = {"from": a.name, "to": b.name}
    if a.extent_size != b.extent_size:
        vg["extent_size"] = {"from": a.extent_size_bytes, "to": b.extent_size_bytes}
    for attr in ("status", "flags", "tags"):
        if sorted(getattr(a, attr)) != sorted(getattr(b, attr)):
            vg[attr] = {"from": getattr(a, attr), "to": getattr(b, attr)}
    return {
        "vg_name": b.name,
        "vg_uuid": b.uuid,
        "from": {"seqno": a.seqno, "description": a.description,
                 "creation_time": a.creation_time},
        "to": {"seqno": b.seqno, "description": b.description,
               "creation_time": b.creation_time},
        "vg": vg,
        "lvs": {
            "created": sorted(created, key=lambda x: x["name"]),
            "removed": sorted(removed, key=lambda x: x["name"]),
            "renamed": sorted(renamed, key=lambda x: x["to"]),
            "resized": sorted(resized, key=lambda x: x["name"]),
            "changed": sorted(changed, key=lambda x: x["name"]),
        },
        "pvs": pvs,
    }


MAX_GAP_ENTRIES = 100
"""A run of more missing seqnos than this is listed as one entry (``last_seqno``)."""


def between(hist: History, uuid: str, lo: int, hi: int) -> list[dict[str, Any]]:
    """The versions after ``lo`` up to ``hi`` (one entry per seqno; gaps say so)."""
    out: list[dict[str, Any]] = []
    best: dict[int, Version] = {}
    for v in hist.of_vg(uuid):
        if v.seqno is not None and lo < v.seqno <= hi:
            cur = best.get(v.seqno)
            if cur is None or (v.usable and not cur.usable) or (v.current and not cur.current):
                best[v.seqno] = v
    prev = lo
    for s in [*sorted(best), hi + 1]:
        # the seqnos prev+1 .. s-1 are gone: one entry each, or one for a long run (a
        # damaged seqno may be 2^64)
        if s - prev - 1 > MAX_GAP_ENTRIES:
            out.append({"seqno": prev + 1, "last_seqno": s - 1, "present": False,
                        "description": None, "creation_time": None})
        else:
            out.extend({"seqno": g, "present": False, "description": None,
                        "creation_time": None} for g in range(prev + 1, s))
        if s <= hi:
            v = best[s]
            out.append({"seqno": s, "present": True, "description": v.description,
                        "creation_time": v.creation_time})
        prev = s
    return out


def diff_versions(
    ds: Disks, seq_from: int, seq_to: Optional[int], vg: Optional[str] = None
) -> list[dict[str, Any]]:
    """Diff two versions of every VG that has both (or of the VG named ``vg``)."""
    from ..model.volumes import build_vg
    from ..text.metadata import metadata_warnings
    from ..vgread.history import History, seqno_ranges

    hist = History.of(ds)
    if vg is not None:
        uuids = hist.match_vg(vg)
        if not uuids:
            raise UsageError(f"no volume group {vg} in the metadata on the inputs")
    else:
        uuids = hist.vg_uuids()
    results = []
    problems = []
    for uuid in uuids:
        seqnos = hist.seqnos(uuid)
        if not seqnos:
            continue
        to = seq_to
        if to is None:  # the newest committed version, as ls uses (not one never committed)
            to = next((v.seqno for v in hist.usable(uuid) if not v.uncommitted), seqnos[-1])
        va, vb = hist.usable(uuid, seq_from), hist.usable(uuid, to)
        name = next((v.vg_name for v in reversed(hist.of_vg(uuid)) if v.vg_name), uuid)
        if not va or not vb:
            lacking = [s for s, c in ((seq_from, va), (to, vb)) if not c]
            problems.append(
                f"VG {name} has no usable version with seqno "
                f"{' or '.join(map(str, lacking))} (found: {seqno_ranges(seqnos)})"
            )
            continue
        a = build_vg(hist.tree(va[0]), source=va[0].where)
        b = build_vg(hist.tree(vb[0]), source=vb[0].where)
        for w in metadata_warnings(hist.tree(va[0])) + metadata_warnings(hist.tree(vb[0])):
            if w not in ds.warnings:
                ds.warnings.append(w)
        d = diff_vgs(a, b)
        d["from"]["where"] = va[0].where
        d["to"]["where"] = vb[0].where
        lo, hi = sorted((seq_from, to))
        d["between"] = between(hist, uuid, lo, hi)
        results.append(d)
    if not results:
        raise UsageError("; ".join(problems) or "no volume group metadata on the inputs")
    return results


def format_diff(d: dict[str, Any]) -> str:
    """The text ``lvmread diff`` prints for one VG."""
    from ..report.lvs import format_time, human_size

    def when(side: dict) -> str:
        t = format_time(side.get("creation_time"))
        desc = side.get("description")
        return ", ".join(x for x in (t, repr(desc) if desc else "") if x)

    lines = [
        f"VG {d['vg_name']}: seqno {d['from']['seqno']} -> {d['to']['seqno']}",
        f"  from: seqno {d['from']['seqno']} ({when(d['from'])}) at {d['from']['where']}",
        f"  to:   seqno {d['to']['seqno']} ({when(d['to'])}) at {d['to']['where']}",
    ]
    rows: list[tuple[str, str, str]] = []
    lvs = d["lvs"]
    for x in lvs["created"]:
        rows.append(("created", x["name"], f"{human_size(x['size'])}  {x['uuid']}"))
    for x in lvs["removed"]:
        rows.append(("removed", x["name"], f"{human_size(x['size'])}  {x['uuid']}"))
    for x in lvs["renamed"]:
        rows.append(("renamed", x["to"], f"was {x['from']}  {x['uuid']}"))
    for x in lvs["resized"]:
        rows.append(("resized", x["name"],
                     f"{human_size(x['from_size'])} -> {human_size(x['to_size'])}  "
                     f"({x['from_extents']} -> {x['to_extents']} extents)"))
    for x in lvs["changed"]:
        rows.append(("changed", x["name"], ", ".join(x["changed"])))
    for x in d["pvs"]["added"]:
        rows.append(("pv added", x["uuid"], x["device"]))
    for x in d["pvs"]["removed"]:
        rows.append(("pv removed", x["uuid"], x["device"]))
    for x in d["pvs"]["resized"]:
        rows.append(("pv resized", x["uuid"], f"{x['from_pe_count']} -> {x['to_pe_count']} PE"))
    for key, val in d["vg"].items():
        rows.append((f"vg {key}", "", f"{val['from']} -> {val['to']}"))
    if not rows:
        lines.append("  no changes to LVs, PVs or the VG")
    else:
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        lines.extend(f"  {a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows)
    if d.get("between"):
        lines.append("  versions:")
        for v in d["between"]:
            if v["present"]:
                lines.append(f"    {v['seqno']:>6}  {format_time(v['creation_time']):<25}  "
                             f"{v['description'] or ''}".rstrip())
            else:
                seq = f"{v['seqno']}-{v['last_seqno']}" if "last_seqno" in v else v["seqno"]
                lines.append(f"    {seq:>6}  (no longer on the inputs)")
    # names, descriptions, tags and device hints come from the disk
    return "\n".join(printable(line) for line in lines)
