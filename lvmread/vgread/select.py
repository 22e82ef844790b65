"""Which metadata copy wins: the one place that decides it.

:func:`select_copies` takes the current copies read from the metadata areas, the copies
the rings and metadata files hold (through :class:`~lvmread.vgread.history.History`), and the
user's wishes (``--seqno``, ``--metadata``, ``--vg``), and returns the copy to build each
VG from; what it worked around goes to the disk set's warnings. The rules, in order:

1. :func:`choose`: of the current copies of a VG, the highest seqno; of several texts
   with that seqno, the one most copies hold, then the first by input path and offset.
2. :func:`damaged_fallback`: where a metadata area's current copy is damaged, the newest
   intact copy in any ring of any PV, committed copies before uncommitted ones.
3. :func:`use_files`: a VG a metadata file describes is built from the file.
4. :func:`select_seqno`: ``--seqno N`` replaces each VG's copy by its version N.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional

from ..errors import LvmReadError, MetadataError, UsageError
from .copies import MetadataCopy, Version, to_copy

if TYPE_CHECKING:
    from .history import Disks, History


def select_copies(
    ds: Disks,
    current: list[MetadataCopy],
    seqno: Optional[int] = None,
    metadata: Optional[list[str]] = None,
    vg: Optional[str] = None,
) -> list[MetadataCopy]:
    """The copy to build each VG from (of the VG named ``vg`` only, if given).

    ``current`` are the copies the mda_headers point to; ``ds.damaged`` the areas whose
    copy failed a check; ``metadata`` the files (or folders) given with ``--metadata``,
    read into ``ds.metadata_files``. Errors about VGs whose metadata is lost go to
    ``ds.errors``; a VG named but not found is a :class:`UsageError` (or the error that
    lost it).
    """
    chosen = choose(current, ds.warnings)
    lost: list[tuple[set[str], str, LvmReadError]] = []  # areas none of whose VGs was read
    if ds.damaged:
        chosen = damaged_fallback(ds, chosen, lost)
    if metadata:
        from .backup import read_metadata_files

        ds.metadata_files = read_metadata_files(metadata, ds.warnings)
        ds.history = None  # scanned again, with the files
        if seqno is None:
            chosen = use_files(ds, chosen)
    if seqno is not None:
        chosen = select_seqno(ds, chosen, seqno, vg)
    elif vg is not None:
        u = vg.replace("-", "")
        picked = [c for c in chosen if c.vg_name == vg or c.vg_uuid.replace("-", "") == u]
        if not picked:
            for uuids, name, err in lost:
                if vg == name or u in {x.replace("-", "") for x in uuids}:
                    raise err
            raise UsageError(f"no volume group {vg} on the inputs")
        chosen = picked
    if vg is None:
        have = {c.vg_uuid for c in chosen}
        ds.errors.extend(err for uuids, _n, err in lost if not uuids & have)
    return chosen


def choose(copies: list[MetadataCopy], warnings: list[str]) -> list[MetadataCopy]:
    """For each VG uuid the copy to trust: the highest seqno; disagreements are warned of.

    Where current copies of the highest seqno differ, the text most of them hold wins,
    then the one on the first device by name: never the order of the inputs.
    """
    by_vg: dict[str, list[MetadataCopy]] = {}
    for c in copies:
        by_vg.setdefault(c.vg_uuid, []).append(c)
    chosen = []
    for group in by_vg.values():
        top = max(c.seqno for c in group)
        # copies of the same seqno that differ (a clone that went its own way): the text
        # most of them hold, then the first by input path and offset, so that the order of
        # the inputs never decides
        held: dict[bytes, int] = {}
        for c in group:
            if c.seqno == top:
                held[c.text.data] = held.get(c.text.data, 0) + 1
        best = min(
            (c for c in group if c.seqno == top),
            key=lambda c: (-held[c.text.data], _copy_place(c)),
        )
        if len(held) > 1:
            mine = held[best.text.data]
            rival = max(n for d, n in held.items() if d != best.text.data)
            how = f"{mine} of them hold it" + (
                "" if mine > rival else ", as many hold another: the first by input path and offset"
            )
            warnings.append(
                f"VG {best.vg_name}: {sum(held.values())} current copies of seqno {top} hold "
                f"{len(held)} different texts; using the one at {best.text.where} ({how})"
            )
        for c in group:
            if c.seqno < best.seqno:
                warnings.append(
                    f"{c.text.where}: VG {c.vg_name} metadata seqno {c.seqno} is older than "
                    f"seqno {best.seqno} on {best.pv}; using seqno {best.seqno}"
                )
            elif c.text.data != best.text.data:
                warnings.append(
                    f"{c.text.where}: VG {c.vg_name} metadata seqno {c.seqno} differs from "
                    f"the copy with the same seqno on {best.pv}"
                )
        chosen.append(best)
    return chosen


def _copy_place(c: MetadataCopy) -> tuple[str, int]:
    """Where a copy was read: (input path, byte offset in it)."""
    area = c.text.area
    return area.source.path, area.source.start + c.text.device_offset


def use_files(ds: Disks, chosen: list[MetadataCopy]) -> list[MetadataCopy]:
    """Each VG a metadata file describes is built from the file (its highest seqno)."""
    best: dict[str, Version] = {}
    for v in ds.metadata_files:
        cur = best.get(v.vg_uuid or "")
        if cur is None or (v.seqno or 0) > (cur.seqno or 0):
            best[v.vg_uuid or ""] = v
    out = list(chosen)
    for uuid, v in best.items():
        assert v.tree is not None
        copy = to_copy(v, v.tree)
        disk = next((c for c in out if c.vg_uuid == uuid), None)
        if disk is None:
            out.append(copy)
            continue
        if disk.seqno > copy.seqno:
            ds.warnings.append(
                f"VG {copy.vg_name}: using metadata file {v.source} (seqno {copy.seqno}) as "
                f"asked; the disks hold newer metadata (seqno {disk.seqno} at {disk.text.where})"
            )
        elif disk.seqno == copy.seqno and _section(disk.tree) != _section(copy.tree):
            ds.warnings.append(
                f"VG {copy.vg_name}: metadata file {v.source} and the copy at "
                f"{disk.text.where} both have seqno {copy.seqno} but differ; using the file"
            )
        elif disk.seqno < copy.seqno:
            ds.warnings.append(
                f"VG {copy.vg_name}: metadata file {v.source} has seqno {copy.seqno}, newer "
                f"than the disks' (seqno {disk.seqno}); using the file"
            )
        out[out.index(disk)] = copy
    return out


def _section(tree: dict) -> Optional[dict]:
    return next((s for s in tree.values() if isinstance(s, dict)), None)


def _describe(v: Version) -> str:
    from ..report.lvs import format_time

    bits = []
    if v.creation_time is not None:
        bits.append(format_time(v.creation_time))
    if v.description:
        bits.append(repr(v.description))
    return f" ({', '.join(bits)})" if bits else ""


def select_seqno(
    ds: Disks, chosen: list[MetadataCopy], seqno: int, vg: Optional[str] = None
) -> list[MetadataCopy]:
    """Replace the copy of each VG (or of the VG named ``vg``) by its version ``seqno``.

    VGs without that version are left out (with a warning) unless a VG was named, in
    which case that is an error. The extents a later version gave to another LV are
    recorded in ``ds.lv_warnings``.
    """
    from .history import History

    hist = History.of(ds)
    if vg is not None:
        uuids = hist.match_vg(vg) or [c.vg_uuid for c in chosen if c.vg_name == vg]
        if not uuids:
            raise UsageError(f"no volume group {vg} on the inputs")
    else:
        uuids = hist.vg_uuids()
    # a uuid only damaged copies name (a changed byte of the id line) is no VG
    uuids = [u for u in uuids if hist.seqnos(u)] or uuids[:1]
    out: list[MetadataCopy] = []
    missing = []
    for uuid in uuids:
        cands = hist.usable(uuid, seqno)
        if not cands:
            missing.append(uuid)
            continue
        best = cands[0]
        for other in cands[1:]:
            if other.data != best.data and other.kind == best.kind:
                ds.warnings.append(
                    f"VG {best.vg_name} seqno {seqno}: the copy at {other.where} differs from "
                    f"the one at {best.where}; using the one at {best.where}"
                )
        files = [c for c in cands if c.kind == "file"]
        if best.kind == "disk" and files:
            f = files[0]
            if _vg_section(hist.tree(f)) != _vg_section(hist.tree(best)):
                ds.warnings.append(
                    f"VG {best.vg_name} seqno {seqno}: metadata file {f.source} differs from the "
                    f"copy on disk at {best.where}; using the copy on disk"
                )
        if best.uncommitted:
            ds.warnings.append(
                f"VG {best.vg_name}: seqno {seqno} at {best.where} was written but never "
                "committed (an interrupted command?)"
            )
        copy = to_copy(best, hist.tree(best))
        newest = max(hist.seqnos(uuid), default=seqno)
        if newest != seqno:
            ds.warnings.append(
                f"VG {best.vg_name}: using seqno {seqno}{_describe(best)} from {best.where}; "
                f"the newest on the inputs is seqno {newest}"
            )
        out.append(copy)
    if missing:
        names = []
        for uuid in missing:
            vs = hist.of_vg(uuid)
            name = next((v.vg_name for v in reversed(vs) if v.vg_name), uuid)
            if len(hist.match_vg(name)) > 1:  # another VG has this name: say which one
                name = f"{name} {uuid}"
            from .history import seqno_ranges

            have = seqno_ranges(hist.seqnos(uuid))
            names.append(f"VG {name} (seqnos found: {have or 'none usable'})")
        if vg is not None or not out:
            raise UsageError(
                f"no usable metadata with seqno {seqno} on the inputs: " + "; ".join(names)
            )
        for n in names:
            ds.warnings.append(f"{n} has no version with seqno {seqno}; it is left out")
    return out


def _vg_section(tree: dict) -> Any:
    return next((s for s in tree.values() if isinstance(s, dict)), None)


def lists_own_pv(hist: History, v: Version) -> bool:
    """Whether a usable copy parses into a VG that lists the PV whose ring holds it (a copy
    of a VG the PV was in before it was made a PV again does not); files always do."""
    if v.lists_own_pv is None:
        try:
            hist.tree(v)
        except LvmReadError:
            return False
    return bool(v.lists_own_pv)


def _intact(hist: History, uuid: str, bad: set[int]) -> Iterator[Version]:
    """The intact disk copies of a VG, newest first: complete, checksum not contradicted,
    parsed, not one of the damaged copies (``bad``: their ids), listing their own PV."""
    for v in hist.usable(uuid):
        if v.kind == "disk" and id(v) not in bad and v.seqno is not None:
            if lists_own_pv(hist, v):
                yield v


def _some(items: list[str], n: int = 3) -> str:
    """The first ``n`` items joined, and how many more there are (bounded messages)."""
    more = f"; and {len(items) - n} more" if len(items) > n else ""
    return "; ".join(items[:n]) + more


def _last_vg(hist: History, in_area: list[Version], cur: Version, bad: set[int]) -> Optional[str]:
    """The VG the PV was last written for before the damaged copy ``cur``: that of the
    nearest intact copy before it in ring order (None if there is none)."""
    pos = cur.area_offset or 0
    ring = sorted(in_area, key=lambda v: v.area_offset or 0)
    before = [v for v in ring if (v.area_offset or 0) < pos][::-1]
    before += [v for v in ring if (v.area_offset or 0) > pos][::-1]
    for v in before:
        if id(v) in bad or not v.vg_uuid or v.uncommitted:
            continue
        hist.verify_versions([v])
        if v.usable and lists_own_pv(hist, v):
            return v.vg_uuid
    return None


def damaged_fallback(
    ds: Disks,
    chosen: list[MetadataCopy],
    lost: Optional[list[tuple[set[str], str, LvmReadError]]] = None,
) -> list[MetadataCopy]:
    """Where a metadata area's newest copy is damaged, use the newest intact copy on any PV.

    ``ds.damaged`` lists the areas whose header or current copy failed a check (their
    warnings are already in ``ds.warnings``). The VGs affected are every VG seen in such an
    area's ring, as the damaged text's own first lines may be the damaged bytes. For each,
    the highest seqno that is intact (complete, its stored checksum matches, it parses) in
    any ring of any PV replaces the chosen copy when it is newer, or stands in when no PV
    had a good copy. Nothing read from the damaged text bounds the choice; a copy written
    after the committed copy of its area (never committed) is used only if nothing
    committed is intact. A damaged area none of whose VGs could be read is put in ``lost``
    (its VG uuids, the VG name the damaged copy gives, and the error to report unless a
    metadata file stands in for one of those VGs).
    """
    lost = [] if lost is None else lost
    if not ds.damaged:
        return chosen
    from .history import History

    hist = History.of(ds)
    failed: dict[str, list[str]] = {}  # vg uuid -> what failed (one entry per damaged area)
    claims: dict[str, int] = {}  # vg uuid -> the highest seqno a damaged copy says it has
    bad: set[int] = set()  # id() of the damaged copies themselves
    areas: list[tuple[set[str], list[Version], str]] = []  # (VG uuids, versions, what failed)
    homes: dict[str, list[bool]] = {}  # vg uuid -> per damaged area: may be read from it
    earlier: list[str] = []  # VGs a damaged area's PV was in before: not read
    by_area: dict[int, list[Version]] = {}
    copies_of: dict[Optional[str], int] = {}  # vg uuid -> how many copies name it
    for v in hist.versions:
        by_area.setdefault(id(v.mda), []).append(v)
        copies_of[v.vg_uuid] = copies_of.get(v.vg_uuid, 0) + 1
    for mda, err in ds.damaged:
        in_area = by_area.get(id(mda), [])
        if not in_area:
            ds.warnings.append(
                f"{mda.source.name}: metadata area {mda.index} (offset {mda.offset}) holds no "
                "metadata text at all; a backup or archive file of its VG can stand in for it "
                "(--metadata FILE)"
            )
            continue
        cur = [v for v in in_area if v.current]
        bad.update(id(v) for v in cur)
        if cur:
            what = "; ".join(f"seqno {v.seqno} at {v.where} failed a check: {err.message}"
                             if v.seqno is not None else
                             f"{v.where} failed a check: {err.message}" for v in cur)
        else:  # the header is unusable: no copy is known to be the committed one
            what = str(err)
        uuids = {v.vg_uuid for v in in_area if v.vg_uuid}
        areas.append((uuids, cur or in_area, what))
        # a VG read from this ring alone must be the one the PV was last written for
        last = _last_vg(hist, in_area, cur[0], bad) if cur and len(uuids) > 1 else None
        for u in uuids:
            homes.setdefault(u, []).append(last is None or last == u)
        for v in cur:
            if v.seqno is None:
                continue
            # a uuid no other copy has is itself damaged: the seqno may still be right
            alone = copies_of.get(v.vg_uuid, 0) <= 1
            for u in uuids if alone else [v.vg_uuid]:
                if u:
                    claims[u] = max(claims.get(u, v.seqno), v.seqno)
        for u in uuids:
            if what not in failed.setdefault(u, []):
                failed[u].append(what)
    by_uuid = {c.vg_uuid: c for c in chosen}
    out = list(chosen)
    for uuid, what in failed.items():
        intact: list[Version] = []  # newest first, up to the first committed one
        for v in _intact(hist, uuid, bad):
            intact.append(v)
            if not v.uncommitted:
                break
        committed = [v for v in intact if not v.uncommitted]
        best = committed[0] if committed else (intact[0] if intact else None)
        have = by_uuid.get(uuid)
        if best is None or best.seqno is None:
            continue
        if have is not None and have.seqno >= best.seqno:
            continue
        if have is None and not any(homes.get(uuid, [True])):
            earlier.append(best.vg_name or uuid)
            continue
        copy = to_copy(best, hist.tree(best))
        newest = intact[0]
        if newest is best:
            which = "the newest intact copy on the inputs"
        else:
            which = (
                f"the newest intact committed copy on the inputs (seqno {newest.seqno} at "
                f"{newest.where} is newer but was never committed: "
                "written after the committed copy of its area)"
            )
            if not committed:
                which = "an uncommitted copy (written after the committed copy of its area)"
        claim = claims.get(uuid)
        later = ""
        if claim is not None and claim == best.seqno + 1:
            later = f"; what seqno {claim} changed is not shown"
        elif claim is not None and claim > best.seqno:
            later = (
                f"; the damaged copy says seqno {claim}: what seqnos {best.seqno + 1}-{claim} "
                "changed is not shown (LVs created since may be missing)"
            )
        ds.warnings.append(
            f"VG {copy.vg_name}: the newest metadata is damaged ({_some(what)}); "
            f"using seqno {copy.seqno}{_describe(best)} from {best.where}, {which}{later}"
        )
        if have is not None:
            out[out.index(have)] = copy
        else:
            out.append(copy)
    if earlier:
        names = ", ".join(sorted(earlier)[:3]) + (", ..." if len(earlier) > 3 else "")
        ds.warnings.append(
            f"{len(earlier)} other VG(s) ({names}) are in the ring of a damaged metadata area "
            "only as VGs its PV was in before the one it was last written for; they are not "
            "listed (`lvmread history` shows them)"
        )
    # an area none of whose VGs was read: its VG lost (the uuid the damaged text gives may
    # be the damaged byte, and the other VGs of its ring may be ones the PV has left)
    read = {c.vg_uuid for c in out}
    gone: dict[tuple[str, str], tuple[set[str], list[str]]] = {}  # one error per VG
    for uuids, named, what in areas:
        if uuids and not uuids & read:
            v = max(named, key=lambda v: (v.vg_uuid is not None, v.seqno or 0))
            all_uuids, whats = gone.setdefault((v.vg_name or "?", v.vg_uuid or ""), (set(), []))
            all_uuids.update(uuids)
            whats.append(what)
    for (name, uuid), (uuids, whats) in gone.items():
        lost.append((uuids, name, MetadataError(
            f"VG {name} ({uuid or 'uuid unknown'}): no intact copy of its metadata on the "
            f"inputs ({_some(whats)}); it is left out"
        )))
    for msg in hist.disagreements():
        if msg not in ds.warnings:
            ds.warnings.append(msg)
    return out
