"""One type for a metadata copy and one module that picks the copy each VG is built from
(lvmread.vgread), on real lvm2 fixtures: the copy in use is the very copy the history
lists, with its provenance and checks, whatever rule chose it.

fixtures/removed (see test_history_seqno.py): VG vgrm, seqnos 1-6 in its ring, LVs
created up to seqno 4 and removed after.
"""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path

import pytest
from conftest import FIXTURES

from lvmread.activator.plan import Activator
from lvmread.errors import LvmReadError, UsageError
from lvmread.inputs.source import InputFile
from lvmread.ondisk.pv import MetadataArea
from lvmread.vgread.copies import Version
from lvmread.vgread.history import History
from lvmread.vgread.scan import DiskSet, open_disks, read_copies, scan
from lvmread.vgread.select import select_copies

VGS = json.loads((FIXTURES / "removed" / "vgs.json").read_text())["report"][0]["vg"][0]
PACKAGE = Path(__file__).resolve().parent.parent / "lvmread"


@pytest.fixture(scope="module")
def image(fixture_images) -> str:
    return str(fixture_images.folder("removed") / "disk.img")


def test_copy_in_use_is_the_current_copy_history_lists(image):
    with open_disks([image]) as ds:
        vg = ds.vg(VGS["vg_name"])
        assert vg.seqno == int(VGS["vg_seqno"])
        used = vg.sources[0].version
        assert isinstance(used, Version)
        assert used.kind == "disk" and used.current and not used.uncommitted
        assert used.checksum_ok is True and used.usable and used.lists_own_pv is True
        assert used.vg_uuid == VGS["vg_uuid"] and used.seqno == int(VGS["vg_seqno"])
        assert vg.sources[0].text.where == used.where
        (listed,) = [v for v in History.of(ds).versions if v.current]
        # the same bytes at the same place, with the checksum the mda_header stores
        assert (listed.file_offset, listed.length, listed.data) == (
            used.file_offset, used.length, used.data)
        assert listed.stored_checksum == used.stored_checksum == used.checksum


def test_an_older_seqno_uses_the_very_ring_copy_history_lists(image):
    with open_disks([image], seqno=4) as ds:
        vg = ds.vg(VGS["vg_name"])
        used = vg.sources[0].version
        assert vg.seqno == used.seqno == 4 and not used.current
        by_seqno = [v for v in History.of(ds).versions if v.seqno == 4]
        assert any(v is used for v in by_seqno)
        assert vg.sources[0].text.offset == used.area_offset


def test_select_copies_is_what_open_disks_uses(image):
    with open_disks([image]) as want, scan([image]) as ds:
        ds.copies = read_copies(ds)
        got = select_copies(ds, ds.copies)
        assert [(c.vg_uuid, c.seqno, c.text.where) for c in got] == [
            (vg.uuid, vg.seqno, vg.sources[0].text.where) for vg in want.vgs
        ]
        with pytest.raises(UsageError, match="no volume group nosuch on the inputs"):
            select_copies(ds, ds.copies, vg="nosuch")
        with pytest.raises(UsageError, match="no usable metadata with seqno 99"):
            select_copies(ds, ds.copies, seqno=99, vg=VGS["vg_name"])


def test_disk_set_fields_are_typed():
    hints = typing.get_type_hints(
        DiskSet, localns={"Activator": Activator, "History": History, "Version": Version,
                          "MetadataArea": MetadataArea, "LvmReadError": LvmReadError,
                          "InputFile": InputFile},
    )
    assert hints["activator"] == typing.Optional[Activator]
    assert hints["history"] == typing.Optional[History]
    assert hints["metadata_files"] == list[Version]
    assert hints["damaged"] == list[tuple[MetadataArea, LvmReadError]]
    assert all(h is not typing.Any for h in hints.values())


def _imports(path: Path, module: str) -> set[str]:
    """The lvmread modules ``module`` imports (in functions and TYPE_CHECKING too)."""
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.update([mod] + [f"{mod}.{a.name}" for a in node.names])
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_metadata_readers_import_no_circle():
    names = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    graph = {}
    for mod, path in names.items():
        deps = set()
        for target in _imports(path, mod):
            while target and target not in names:
                target = target.rpartition(".")[0]
            if target and target != mod and not mod.startswith(target + "."):
                deps.add(target)
        graph[mod] = deps

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            if m == goal:
                return True
            if m not in seen:
                seen.add(m)
                todo.extend(graph.get(m, ()))
        return False

    readers = ["lvmread.vgread.scan", "lvmread.vgread.history", "lvmread.vgread.backup",
               "lvmread.vgread.ring", "lvmread.vgread.copies", "lvmread.vgread.select",
               "lvmread.forensics.diff"]
    assert "lvmread.vgread.select" in graph["lvmread.vgread.scan"]  # the check sees lazy imports
    circles = [m for m in readers for d in graph[m] if reaches(d, m)]
    assert circles == []
