"""The segment type registry (lvmread.segtypes): one handler per type family, asked by the
model, the validator, the activator and the reports."""

from __future__ import annotations

import ast
import copy
import lzma
import tempfile

import pytest
from conftest import FIXTURES

import lvmread
from lvmread import segtypes
from lvmread.activator import plan as activate
from lvmread.errors import ActivationError
from lvmread.inputs.source import open_input
from lvmread.model.volumes import build_vg
from lvmread.ondisk.pv import read_pv
from lvmread.report import lvs as report
from lvmread.text.metadata import parse_metadata
from lvmread.vgread.validate import check_vg

# The segment types lvm2 2.03 registers (lib/commands/toolcontext.c _init_segtypes and
# lib/raid/raid.c _raid_types).
LVM2_TYPES = {
    "striped", "linear", "mirror", "snapshot", "zero", "error", "free", "thin", "thin-pool",
    "cache", "cache-pool", "writecache", "integrity", "vdo", "vdo-pool", "raid0",
    "raid0_meta", "raid1", "raid10", "raid10_near", "raid4", "raid5", "raid5_la", "raid5_ls",
    "raid5_ra", "raid5_rs", "raid5_n", "raid6", "raid6_zr", "raid6_nr", "raid6_nc",
    "raid6_ls_6", "raid6_rs_6", "raid6_la_6", "raid6_ra_6", "raid6_n_6",
}  # fmt: skip


def test_every_type_lvm2_knows_has_a_handler():
    assert segtypes.known_types() == LVM2_TYPES
    for name in LVM2_TYPES:
        h = segtypes.handler(name)
        assert name in h.names and h.known
    unknown = segtypes.handler("no-such-type")
    assert not unknown.known and unknown.virtual
    assert segtypes.handler("raid6_zr").is_raid and not segtypes.handler("mirror").is_raid
    for family, names in segtypes.FAMILIES.items():  # each module serves what it claims
        for name in names:
            assert segtypes.handler(name).__module__ == f"lvmread.segtypes.{family}"


def test_model_never_imports_segtypes():
    """The layers: model <- segtypes; the model reaches the registry only through the
    lookup segtypes installs."""
    tree = ast.parse((FIXTURES.parent / "lvmread" / "model" / "volumes.py").read_text())
    names = [
        (n.module or "") + "." + a.name if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    ]
    assert names and not [n for n in names if "segtypes" in n], names


# Today's refusals of the oracle LVs lvmread cannot map yet (real lvm2 disks).
REFUSED = {
    ("cache", "data"): "LV vg_cache/data segment 1: segment type 'cache' cannot be mapped yet",
    ("cache", "cpool_cpool"): (
        "LV vg_cache/cpool_cpool segment 1: segment type 'cache-pool' cannot be mapped yet"
    ),
    ("mirror", "m1"): "LV vg_mirror/m1 segment 1: segment type 'mirror' cannot be mapped yet",
    ("raid1", "r1"): "LV vg_raid1/r1 segment 1: segment type 'raid1' cannot be mapped yet",
    ("raid5", "r5"): "LV vg_raid5/r5 segment 1: segment type 'raid5' cannot be mapped yet",
    ("thin", "pool"): "LV vg_thin/pool segment 1: segment type 'thin-pool' cannot be mapped yet",
    ("thin", "thin1"): "LV vg_thin/thin1 segment 1: segment type 'thin' cannot be mapped yet",
    ("snapshot", "snapshot0"): (
        "LV vg_snap/snapshot0 segment 1: segment type 'snapshot' cannot be mapped yet"
    ),
    ("snapshot", "origin"): (
        "LV vg_snap/origin is a snapshot origin: snapshot targets cannot be mapped yet"
    ),
    ("snapshot", "snap"): (
        "LV vg_snap/snap is a snapshot COW store: snapshot targets cannot be mapped yet"
    ),
}


@pytest.mark.parametrize("scenario", sorted({s for s, _ in REFUSED}))
def test_types_not_mapped_yet_are_refused_by_name(scenario, fixture_images):
    with lvmread.open(fixture_images.images(f"oracle/{scenario}")) as disks:
        vg = disks.vgs[0]
        for (s, name), message in REFUSED.items():
            if s != scenario:
                continue
            with pytest.raises(ActivationError) as exc:
                vg.lv(name).table()
            assert str(exc.value) == message
            with pytest.raises(ActivationError):
                vg.lv(name).open()
        # their sub-LVs are plain striped LVs and map
        subs = [lv for lv in vg.lvs.values() if lv.segment_types == ["striped"]]
        plain = [lv for lv in subs if segtypes.lv_refusal(lv) is None]
        assert plain or scenario == "snapshot"
        for lv in plain:
            assert " linear " in lv.table()


def _tree(name: str) -> dict:
    """The parsed metadata of a committed fixture's first image."""
    image = sorted((FIXTURES / name).glob("*.img.xz"))[0]
    with tempfile.NamedTemporaryFile(suffix=".img") as tmp:
        with lzma.open(image) as fin:
            tmp.write(fin.read())
        tmp.flush()
        with open_input(tmp.name) as infile:
            text = read_pv(infile.whole).metadata_areas[0].current().text
    return parse_metadata(text)


class _TestZero(segtypes.SegmentType):
    """A type this test teaches lvmread: virtual, mapped by dm's zero target."""

    names = ("lvmread-test-zero",)
    virtual = True

    def table_line(self, seg, ctx, start, length):
        return f"{start} {length} zero"


def _retyped(tree: dict, segtype: str) -> tuple[dict, str]:
    """``tree`` with its first LV's segments made area-less segments of ``segtype``."""
    tree = copy.deepcopy(tree)
    vgd = next(v for v in tree.values() if isinstance(v, dict))
    name, lvd = next(iter(vgd["logical_volumes"].items()))
    for key, seg in lvd.items():
        if key.startswith("segment") and isinstance(seg, dict):
            seg["type"] = segtype
            seg.pop("stripes", None)
            seg.pop("stripe_count", None)
    return tree, name


def test_a_registered_handler_is_all_a_new_type_needs():
    tree, name = _retyped(_tree("single"), "lvmread-test-zero")
    vg = build_vg(tree)
    lv = vg.lvs[name]
    with pytest.raises(ActivationError, match="segment type 'lvmread-test-zero' cannot be mapped"):
        activate.table(lv)
    assert report.lv_attr(lv)[6] == "u"  # a type lvm2 does not know
    h = segtypes.register(_TestZero())
    try:
        vg = build_vg(tree)
        lv = vg.lvs[name]
        assert not check_vg(vg) and not lv.problems
        assert "VIRTUAL" in lv.lvm2_status
        es = vg.extent_size
        want = [f"{s.start_extent * es} {s.extent_count * es} zero\n" for s in lv.segments]
        assert activate.table(lv) == "".join(want)
        assert report.lv_attr(lv)[6] == "v" and report.segtype(lv.segments[0]) == h.names[0]
    finally:
        segtypes.unregister(h)
    assert segtypes.handler("lvmread-test-zero") is not h


def test_unknown_type_is_kept_virtual_and_refused():
    tree, name = _retyped(_tree("single"), "no-such-type")
    vg = build_vg(tree)
    lv = vg.lvs[name]
    assert set(lv.segment_types) == {"no-such-type"} and "VIRTUAL" in lv.lvm2_status
    with pytest.raises(ActivationError) as exc:
        activate.table(lv)
    assert str(exc.value) == (
        f"LV {vg.name}/{name} segment 1: segment type 'no-such-type' cannot be mapped yet"
    )


def test_striped_checks_come_from_the_striped_handler():
    tree = _tree("single")
    vgd = next(v for v in tree.values() if isinstance(v, dict))
    name, lvd = next(iter(vgd["logical_volumes"].items()))
    lvd["segment1"]["stripe_count"] = 2
    vg = build_vg(tree)
    check_vg(vg)
    assert any("stripe_count 2 but 1 stripes listed" in p for p in vg.lvs[name].problems)
    lvd["segment1"]["type"] = "linear"  # lvm2's alias: no stripe checks
    vg = build_vg(tree)
    check_vg(vg)
    assert not vg.lvs[name].problems
