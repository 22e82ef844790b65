"""Checking metadata for meaning before it is used.

:func:`check_vg` looks at a built :class:`~lvmread.model.volumes.VolumeGroup` as lvm2's
``vg_validate`` would: segment extents contiguous and adding up, stripe counts matching
the area lists, every area inside its PV, references that resolve, no cycles among LVs,
no LVs sharing extents, numbers within what a device can hold. Faults that make an LV
unusable are recorded in ``lv.problems`` (the activator refuses such an LV and says why);
every fault also comes back as a warning line for the user.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Sequence

from ..errors import MAX_WARNINGS, summarise
from ..limits import SECTOR_SIZE
from ..model.volumes import (
    LV_REFERENCE_KEYS,
    LogicalVolume,
    PhysicalVolume,
    Segment,
    VolumeGroup,
)
from ..segtypes import handler

if TYPE_CHECKING:
    from ..text.metadata import RepeatedSection

MAX_SECTORS = (1 << 63) // SECTOR_SIZE
"""Largest device size, in sectors, the kernel (and so lvmread) accepts."""


def _pv_faults(vg: VolumeGroup, pv: PhysicalVolume) -> list[str]:
    """What makes the numbers of a PV section unusable for mapping its extents."""
    out = []
    for key in ("pe_start", "pe_count", "dev_size"):
        v = getattr(pv, key)
        if v < 0:
            out.append(f"{key} {v} is negative")
        elif v > MAX_SECTORS:
            out.append(f"{key} {v} is beyond what any device can hold")
    if not out and pv.pe_start + pv.pe_count * vg.extent_size > MAX_SECTORS:
        out.append(f"its {pv.pe_count} extents from sector {pv.pe_start} end beyond what any "
                   "device can hold")
    return out


def _lv_problems(
    vg: VolumeGroup, lv: LogicalVolume, bad_pvs: dict[str, list[str]]
) -> list[str]:
    out = []
    on_bad = next((a.pv.key for seg in lv.segments for a in seg.areas
                   if a.pv is not None and a.pv.key in bad_pvs), None) if bad_pvs else None
    if on_bad is not None:
        out.append(f"it uses PV {on_bad}, whose {bad_pvs[on_bad][0]}")
    expect = 0
    for seg in lv.segments:
        where = f"segment {seg.index}"
        if seg.start_extent != expect:
            out.append(
                f"{where} starts at extent {seg.start_extent}, not {expect} where the "
                "previous one ended"
            )
        if seg.extent_count <= 0:
            out.append(f"{where} has {seg.extent_count} extents")
        expect = seg.start_extent + max(seg.extent_count, 0)
        out += _segment_problems(vg, seg, where, bad_pvs)
    count = lv.raw.get("segment_count")
    if isinstance(count, int) and count != len(lv.segments):
        out.append(f"segment_count is {count} but {len(lv.segments)} segments are present")
    if lv.extent_count * vg.extent_size > MAX_SECTORS:
        out.append(f"size of {lv.extent_count} extents is beyond what any device can hold")
    return out


def _segment_problems(
    vg: VolumeGroup, seg: Segment, where: str, bad_pvs: dict[str, list[str]]
) -> list[str]:
    raw = seg.raw
    out = handler(seg.type).problems(seg, where)
    for i, area in enumerate(seg.areas):
        if area.start < 0:
            out.append(f"{where}: area {i} starts at negative extent {area.start}")
        if area.pv is not None and area.pv.key not in bad_pvs:  # (those: _lv_problems)
            end = area.start + seg.area_len
            if end > area.pv.pe_count:
                out.append(
                    f"{where}: area {i} uses extents {area.start}-{end - 1} of {area.pv.key}, "
                    f"which has {area.pv.pe_count}"
                )
    for key in LV_REFERENCE_KEYS:
        ref = raw.get(key)
        if isinstance(ref, str) and ref and ref not in vg.lvs and ref not in vg.pvs:
            out.append(f"{where}: {key} names unknown LV {ref!r}")
    return out


def _refs(lv: LogicalVolume) -> list[str]:
    return [a.name for s in lv.segments for a in s.areas if a.lv is not None]


def _strong_components(vg: VolumeGroup) -> list[list[str]]:
    """The LVs that reach themselves through their segments' areas, as strongly connected
    groups (Tarjan's algorithm, iterative: each LV and reference is visited once)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in vg.lvs:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(_refs(vg.lvs[root])))]
        while work:
            name, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in vg.lvs:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(_refs(vg.lvs[nxt]))))
                elif nxt in on_stack:
                    low[name] = min(low[name], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
            if low[name] == index[name]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == name:
                        break
                if len(group) > 1 or name in _refs(vg.lvs[name]):
                    out.append(group)
    return out


SHOWN = 6
"""How many LV names a message about a cycle shows before it cuts the list short."""


def _one_cycle(vg: VolumeGroup, group: list[str]) -> str:
    """A cycle through the first LV of ``group`` (a strongly connected group), written
    ``a -> b -> a``, its middle cut short past a few names."""
    members = set(group)
    first = next(n for n in vg.lvs if n in members)
    parent: dict[str, str] = {}
    todo = [first]
    last = first
    while todo:  # breadth first, within the group, until a reference leads back to `first`
        nxt_todo = []
        for name in todo:
            refs = _refs(vg.lvs[name])
            if first in refs:
                last, nxt_todo = name, []
                break
            for ref in refs:
                if ref in members and ref not in parent and ref != first:
                    parent[ref] = name
                    nxt_todo.append(ref)
        todo = nxt_todo
    path = [last]
    while path[-1] != first:
        path.append(parent[path[-1]])
    path.reverse()
    names = [*path, first]
    if len(names) > 2 * SHOWN:
        names = [*names[:SHOWN], f"... ({len(names) - 2 * SHOWN} more)", *names[-SHOWN:]]
    text = " -> ".join(names)
    if len(group) > len(path):
        text += f" ({len(group)} LVs reach each other)"
    return text


def _cycles(vg: VolumeGroup) -> dict[str, str]:
    """LVs that reach themselves through their segments' areas: name -> a cycle."""
    found: dict[str, str] = {}
    for group in _strong_components(vg):
        cycle = _one_cycle(vg, group)
        for name in group:
            found[name] = cycle
    return found


def _shared_extents(vg: VolumeGroup) -> list[str]:
    """Warnings for PV extents that two segments both claim: the first few pairs, then
    one line for the rest (a sweep that counts the pairs, never lists them all)."""
    claims: dict[str, list[tuple[int, int, str]]] = {}
    for lv in vg.lvs.values():
        for seg in lv.segments:
            for area in seg.areas:
                if area.pv is not None and seg.area_len > 0:
                    claims.setdefault(area.pv.key, []).append(
                        (area.start, area.start + seg.area_len, lv.name)
                    )
    out: list[str] = []
    pairs = 0
    lvs: set[str] = set()
    for pv, ranges in claims.items():
        ranges.sort()
        # sweep: the ranges still open at each start (a heap by end) overlap it
        open_ends: list[tuple[int, int, tuple[int, int, str]]] = []
        reach = -1  # the furthest end of the ranges before this one
        for i, (b0, b1, bn) in enumerate(ranges):
            while open_ends and open_ends[0][0] <= b0:
                heapq.heappop(open_ends)
            pairs += len(open_ends)
            if open_ends and len(out) < MAX_WARNINGS:
                for _end, _i, (_a0, a1, an) in sorted(open_ends, key=lambda e: e[1]):
                    if len(out) >= MAX_WARNINGS:
                        break
                    out.append(f"LVs {an} and {bn} share extents {b0}-{min(a1, b1) - 1} of {pv}")
            nxt = ranges[i + 1][0] if i + 1 < len(ranges) else b1
            if reach > b0 or nxt < b1:
                lvs.add(bn)
            reach = max(reach, b1)
            heapq.heappush(open_ends, (b1, i, (b0, b1, bn)))
    if pairs > len(out):
        out.append(
            f"and {pairs - len(out)} more pairs of areas share extents ({len(lvs)} LVs "
            "involved)"
        )
    return out


def _few(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _duplicate_pv_ids(vg: VolumeGroup) -> tuple[set[str], list[str]]:
    """The PV sections whose uuid another section has too, and a warning per uuid.

    lvm2 reads such metadata (every section joined to the one device of that uuid) but
    its ``vg_validate`` calls it invalid ("Duplicate PV id") and will not write it: one of
    the sections is not what its uuid says, so no LV on any of them is read.
    """
    keys: dict[str, list[str]] = {}
    for pv in vg.pvs.values():
        keys.setdefault(pv.uuid.replace("-", ""), []).append(pv.key)
    dups = {u: ks for u, ks in keys.items() if len(ks) > 1}
    warnings = [
        f"VG {vg.name}: duplicate PV id {vg.pvs[ks[0]].uuid} in PV sections {_few(ks)} "
        "(lvm2's vg_validate rejects this metadata); the LVs on them are not read"
        for ks in list(dups.values())[:3]
    ]
    if len(dups) > 3:
        warnings.append(f"VG {vg.name}: and {len(dups) - 3} more duplicate PV ids")
    return {k for ks in dups.values() for k in ks}, warnings


def _repeat_problems(
    vg: VolumeGroup, repeated: Sequence[RepeatedSection], bad_pvs: dict[str, list[str]]
) -> dict[str, list[str]]:
    """LV name -> problems, for LV and segment sections the text gives twice (lvm2 reads
    both and refuses the metadata; lvmread kept the first); a PV section given twice
    goes into ``bad_pvs``, so that the LVs on it are refused (lvm2 reads it as two PVs
    on one device and maps the LVs on the last, lvmread kept the first: neither is sure)."""
    out: dict[str, list[str]] = {}
    lvs, pvs = vg.raw.get("logical_volumes"), vg.raw.get("physical_volumes")
    by_raw = {id(lv.raw): lv for lv in vg.lvs.values()}
    for r in repeated:
        what = f"section {r.key!r} is given twice (lines {r.first} and {r.line})"
        if r.container is pvs:
            # lvm2 lists both as PVs and maps the areas that name the key on the last one
            bad_pvs.setdefault(r.key, []).append(f"{what}; lvm2 reads both, differently")
            continue
        what += "; lvm2 reads both and refuses this metadata"
        lv = vg.lvs.get(r.key) if r.container is lvs else by_raw.get(id(r.container))
        if lv is not None:
            out.setdefault(lv.name, []).append(f"its {what}")
    return out


def check_vg(vg: VolumeGroup, repeated: Sequence[RepeatedSection] = ()) -> list[str]:
    """Check ``vg``; return warning lines and record LV-breaking faults in ``lv.problems``.

    ``repeated``: the sections its metadata text repeats (see
    :func:`~lvmread.text.metadata.repeated_sections`). Every LV keeps all its faults; the
    warnings list the first few of each kind and summarise the rest, so that their number
    does not grow with the metadata.
    """
    pv_warnings: list[str] = []
    bad_pvs: dict[str, list[str]] = {}
    repeats = _repeat_problems(vg, repeated, bad_pvs) if repeated else {}
    for pv in vg.pvs.values():
        faults = bad_pvs.get(pv.key, []) + _pv_faults(vg, pv)
        if faults:
            bad_pvs[pv.key] = faults
            pv_warnings.append(f"PV {pv.key}: {'; '.join(faults)}; its LVs are not mapped")
        elif pv.device is not None:
            end = (pv.pe_start + pv.pe_count * vg.extent_size) * SECTOR_SIZE
            if end > pv.device.source.size:
                pv_warnings.append(
                    f"PV {pv.key} ({pv.name}): its extents end at byte {end}, past the end of "
                    f"the device ({pv.device.source.size} bytes); truncated image?"
                )
    dup_keys, dup_warnings = _duplicate_pv_ids(vg)
    cycles = _cycles(vg)
    lv_warnings: list[str] = []
    faults = faulty = 0
    for lv in vg.lvs.values():
        lv.problems = repeats.get(lv.name, []) + _lv_problems(vg, lv, bad_pvs)
        on_dup = dup_keys and sorted(
            {a.pv.key for s in lv.segments for a in s.areas if a.pv} & dup_keys
        )
        if on_dup:
            lv.problems.append(
                f"it uses PV {', '.join(on_dup)}, whose uuid another PV of the VG has too: "
                "which device holds its extents is unknown"
            )
        if lv.name in cycles:
            lv.problems.append(f"its sub-LVs form a cycle: {cycles[lv.name]}")
        if lv.problems:
            faulty += 1
            faults += len(lv.problems)
            if len(lv_warnings) < MAX_WARNINGS:
                lv_warnings += [f"VG {vg.name} LV {lv.name}: {p}" for p in lv.problems]
    lv_warnings = lv_warnings[:MAX_WARNINGS]
    if faults > len(lv_warnings):
        lv_warnings.append(
            f"VG {vg.name}: and {faults - len(lv_warnings)} more faults ({faulty} LVs have "
            "faults in all; such an LV is refused when read)"
        )
    warnings = summarise(
        [f"VG {vg.name} {w}" for w in pv_warnings],
        f"VG {vg.name}: and " + "{n} more PVs with such faults",
    )
    warnings += dup_warnings + lv_warnings
    warnings += [f"VG {vg.name}: {w}" for w in _shared_extents(vg)]
    return warnings
