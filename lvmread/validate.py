"""Checking metadata for meaning before it is used.

:func:`check_vg` looks at a built :class:`~lvmread.model.VolumeGroup` as lvm2's
``vg_validate`` would: segment extents contiguous and adding up, stripe counts matching
the area lists, every area inside its PV, references that resolve, no cycles among LVs,
no LVs sharing extents, numbers within what a device can hold. Faults that make an LV
unusable are recorded in ``lv.problems`` (the activator refuses such an LV and says why);
every fault also comes back as a warning line for the user.
"""

from __future__ import annotations

import heapq

from .errors import MAX_WARNINGS, summarise
from .model import LV_REFERENCE_KEYS, SECTOR, LogicalVolume, Segment, VolumeGroup

MAX_SECTORS = (1 << 63) // SECTOR
"""Largest device size, in sectors, the kernel (and so lvmread) accepts."""


def _lv_problems(vg: VolumeGroup, lv: LogicalVolume) -> list[str]:
    out = []
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
        out += _segment_problems(vg, seg, where)
    count = lv.raw.get("segment_count")
    if isinstance(count, int) and count != len(lv.segments):
        out.append(f"segment_count is {count} but {len(lv.segments)} segments are present")
    if lv.extent_count * vg.extent_size > MAX_SECTORS:
        out.append(f"size of {lv.extent_count} extents is beyond what any device can hold")
    return out


def _segment_problems(vg: VolumeGroup, seg: Segment, where: str) -> list[str]:
    out = []
    raw = seg.raw
    if seg.type == "striped":
        n = raw.get("stripe_count")
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
    for i, area in enumerate(seg.areas):
        if area.start < 0:
            out.append(f"{where}: area {i} starts at negative extent {area.start}")
        if area.pv is not None:
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


def check_vg(vg: VolumeGroup) -> list[str]:
    """Check ``vg``; return warning lines and record LV-breaking faults in ``lv.problems``.

    Every LV keeps all its faults; the warnings list the first few of each kind and
    summarise the rest, so that their number does not grow with the metadata."""
    pv_warnings = []
    for pv in vg.pvs.values():
        if pv.pe_count < 0 or pv.pe_start < 0:
            pv_warnings.append(f"PV {pv.key}: pe_start {pv.pe_start}, pe_count {pv.pe_count}")
        elif pv.device is not None:
            end = (pv.pe_start + pv.pe_count * vg.extent_size) * SECTOR
            if end > pv.device.source.size:
                pv_warnings.append(
                    f"PV {pv.key} ({pv.name}): its extents end at byte {end}, past the end of "
                    f"the device ({pv.device.source.size} bytes); truncated image?"
                )
    cycles = _cycles(vg)
    lv_warnings: list[str] = []
    faults = faulty = 0
    for lv in vg.lvs.values():
        lv.problems = _lv_problems(vg, lv)
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
    warnings = summarise(pv_warnings, f"VG {vg.name}: and " + "{n} more PVs with such faults")
    warnings += lv_warnings
    warnings += [f"VG {vg.name}: {w}" for w in _shared_extents(vg)]
    return warnings
