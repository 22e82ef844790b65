"""What later versions of the metadata did with an older version's extents.

An LV read from an old version (``--seqno``) may sit on extents that a later version
gave to another LV, which may have written over them since. :func:`reuse_warnings`
compares the old version's PV areas with every later version's; :func:`note_reuse`
records the findings per LV in the disk set's ``lv_warnings``.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Iterable, Optional

from ..activator import plan as activate
from ..errors import LvmReadError, summarise
from ..vgread.history import Disks, History

if TYPE_CHECKING:
    from ..model.volumes import VolumeGroup


def pv_extents(vg: VolumeGroup) -> list[tuple[str, int, int, str, str]]:
    """(PV uuid, first PE, PE count, LV uuid, LV name) for every PV area of every LV."""
    out = []
    for lv in vg.lvs.values():
        for seg in lv.segments:
            n = seg.area_len
            for area in seg.areas:
                if area.pv is not None and n > 0:
                    out.append((area.pv.uuid, area.start, n, lv.uuid, lv.name))
    return out


CLOSURE_DEPTH = activate.MAX_DEPTH + 1
"""How many levels of sub-LVs :func:`lv_closure` follows: an LV and the levels below it
the activator maps; what lies deeper cannot be read at all, and following it for each LV
of a long chain of LVs made the work grow with the square of its length."""


def lv_closure(vg: VolumeGroup, name: str) -> set[str]:
    """The LV and the sub-LVs it is built from (by name), level by level, at most
    :data:`CLOSURE_DEPTH` levels."""
    seen: set[str] = set()
    level = [name]
    for _ in range(CLOSURE_DEPTH):
        below = []
        for n in level:
            if n in seen or n not in vg.lvs:
                continue
            seen.add(n)
            for seg in vg.lvs[n].segments:
                below.extend(seg.references())
        if not below:
            break
        level = below
    return seen


def _fmt_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in merged)


def _by_pv(ext: list[tuple[str, int, int, str, str]]) -> dict[str, tuple]:
    """pv_extents() entries by PV uuid: (starts, entries, longest run), sorted by start, so
    that the ones overlapping a range are found by bisection, not by a scan of every LV
    (1,000 LVs in 20 versions are 20 million pairs)."""
    grouped: dict[str, list[tuple[int, tuple]]] = {}
    for i, e in enumerate(ext):
        grouped.setdefault(e[0], []).append((i, e))
    out = {}
    for pv, items in grouped.items():
        items.sort(key=lambda ie: ie[1][1])
        out[pv] = ([e[1] for _, e in items], items, max(e[2] for _, e in items))
    return out


def _overlapping(by_pv: dict[str, tuple], pv: str, first: int, count: int) -> list[tuple]:
    """The entries of ``by_pv`` on ``pv`` that may overlap extents first..first+count-1,
    in their pv_extents() order."""
    got = by_pv.get(pv)
    if got is None:
        return []
    starts, items, longest = got
    lo = bisect.bisect_left(starts, first - longest + 1)
    hi = bisect.bisect_left(starts, first + count)
    return [e for _, e in sorted(items[lo:hi], key=lambda ie: ie[0])]


def reuse_warnings(
    old: VolumeGroup, later: list[VolumeGroup], only: Optional[str] = None
) -> dict[str, list[str]]:
    """For each LV of ``old``: whether a later version gave its extents to another LV.

    Returns ``{lv name: [message]}`` (only LVs with findings): one message per LV naming
    the extents, the first LV (and seqno) they went to, how many others had them since,
    and who holds them in the newest version. ``later`` must be in ascending seqno
    order. With ``only``, just that LV (and the sub-LVs it is built from).
    """
    pv_names = {pv.uuid: (pv.device.name if pv.device is not None else pv.key)
                for pv in old.pvs.values()}
    top = [only] if only is not None else [lv.name for lv in old.lvs.values()]
    order = {name: i for i, name in enumerate(old.lvs)}
    ext_of: dict[str, list[tuple[str, int, int, str, str]]] = {}  # LV name -> its extents
    for e in pv_extents(old):
        ext_of.setdefault(e[4], []).append(e)
    newest = later[-1].seqno if later else None
    later_ext = [(v, _by_pv(pv_extents(v))) for v in later]
    out: dict[str, list[str]] = {}
    for name in top:
        closure = lv_closure(old, name)
        mine = [e for n in sorted(closure, key=order.__getitem__) for e in ext_of.get(n, ())]
        uuids = {old.lvs[n].uuid for n in closure}
        ranges: dict[str, set[tuple[int, int]]] = {}  # PV uuid -> extent ranges given away
        first: Optional[tuple[int, str]] = None
        others: set[str] = set()
        in_newest: set[str] = set()
        for v, by_pv in later_ext:
            for pv_u, a0, n0, _lu, _ln in mine:
                for _pv_b, b0, n1, lu, ln in _overlapping(by_pv, pv_u, a0, n0):
                    if lu in uuids:
                        continue
                    lo, hi = max(a0, b0), min(a0 + n0, b0 + n1)
                    if lo >= hi:
                        continue
                    ranges.setdefault(pv_u, set()).add((lo, hi - 1))
                    if first is None:
                        first = (v.seqno, ln)
                    others.add(lu)
                    if v.seqno == newest:
                        in_newest.add(f"{old.name}/{ln}")
        if first is None:
            continue
        where = "; ".join(
            f"extent{'s' if len(r) > 1 or r[0][0] != r[0][1] else ''} {_fmt_ranges(r)} of PV "
            f"{pv_names.get(p, p)}"
            for p, r in ((p, sorted(r)) for p, r in sorted(ranges.items()))
        )
        more = len(others) - 1
        msg = (
            f"LV {old.name}/{name} (seqno {old.seqno}): {where} went to LV "
            f"{old.name}/{first[1]} in seqno {first[0]}"
        )
        if more:
            msg += f" and later to {more} other LV{'s' if more > 1 else ''}"
        if in_newest:
            holders = ", ".join(summarise(sorted(in_newest), "{n} more LVs", limit=3))
            verb = "holds" if len(in_newest) == 1 else "hold"
            msg += f"; in the newest version (seqno {newest}) {holders} {verb} them"
        else:
            msg += f"; they are free in the newest version (seqno {newest})"
        out[name] = [msg + "; the data read there may have been overwritten"]
    return out


def later_versions(
    ds: Disks, vg: VolumeGroup
) -> tuple[list[VolumeGroup], list[tuple[int, int]]]:
    """The VGs built from every usable version after ``vg.seqno`` (one per seqno, ascending)
    and the runs (first, last) of seqnos between it and the newest no longer on the inputs."""
    from ..model.volumes import build_vg

    hist = History.of(ds)
    seqnos = [s for s in hist.seqnos(vg.uuid) if s > vg.seqno]
    out = []
    for s in seqnos:
        v = hist.usable(vg.uuid, s)[0]
        try:
            out.append(build_vg(hist.tree(v), source=v.where))
        except LvmReadError:
            continue
    # runs (first, last) of the seqnos missing in between; never one entry per seqno, as a
    # damaged seqno may be 2^64
    known = [vg.seqno, *seqnos]
    gone = [(a + 1, b - 1) for a, b in zip(known, known[1:]) if b - a > 1]
    return out, gone


def note_reuse(ds: Disks, vg: VolumeGroup) -> None:
    """Record in ``ds.lv_warnings`` (and for gaps in ``ds.warnings``) what later versions
    of the metadata did with the extents of the LVs of ``vg`` (an older version)."""
    later, gone = later_versions(ds, vg)
    if gone:
        runs = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in gone)
        ds.warnings.append(
            f"VG {vg.name}: seqno(s) {runs} after {vg.seqno} are not on the inputs "
            "(overwritten or incomplete); extents they allocated to other LVs cannot be checked"
        )
    if not later:
        return
    for lv_name, msgs in reuse_warnings(vg, later).items():
        lv = vg.lvs[lv_name]
        ds.lv_warnings.setdefault(lv.uuid, []).extend(msgs)
