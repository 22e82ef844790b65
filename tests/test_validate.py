"""Metadata is checked for meaning: edits of a real lvm2 backup file that lvm2 would refuse."""

from __future__ import annotations

import re

import pytest
from conftest import ORACLE

from lvmread.errors import ActivationError, MetadataError
from lvmread.model.volumes import build_vg
from lvmread.text.metadata import parse_metadata
from lvmread.vgread.validate import check_vg

BACKUP = (ORACLE / "linear" / "guest" / "vgcfgbackup.txt").read_text()


def _vg(text: str):
    vg = build_vg(parse_metadata(text, "backup"), "backup")
    return vg, check_vg(vg)


def _edit(pattern: str, repl: str, count: int = 1) -> str:
    text, n = re.subn(pattern, repl, BACKUP, count=count, flags=re.S)
    assert n == count, pattern
    return text


def test_real_metadata_is_clean():
    vg, warnings = _vg(BACKUP)
    assert warnings == []
    assert all(not lv.problems for lv in vg.lvs.values())


@pytest.mark.parametrize(
    ("pattern", "repl", "lv", "message"),
    [
        # lvb's second segment starts one extent late: a gap
        (r'(lvb \{.*?segment2 \{\s*start_extent = )5', r"\g<1>6", "lvb", "not 5 where"),
        # lva's first stripe runs past pv0's 63 extents
        (r'("pv0", )0(\s*\])', r"\g<1>60\2", "lva", "which has 63"),
        # a stripe count that does not match the area list
        (r"(lvd \{.*?stripe_count = )1", r"\g<1>2", "lvd", "stripe_count 2 but 1"),
        # segment_count disagreeing with the segments present
        (r"(lvd \{.*?segment_count = )1", r"\g<1>3", "lvd", "segment_count is 3"),
    ],
)
def test_lv_problems(pattern, repl, lv, message):
    vg, warnings = _vg(_edit(pattern, repl))
    assert any(message in p for p in vg.lvs[lv].problems), vg.lvs[lv].problems
    assert any(f"LV {lv}:" in w and message in w for w in warnings)


def test_shared_extents_are_reported_not_fatal():
    # lvd moved onto lva's first extents
    vg, warnings = _vg(_edit(r'("pv0", )18', r"\g<1>2"))
    assert any("LVs lva and lvd share extents 2-2 of pv0" in w for w in warnings)
    assert not vg.lvs["lvd"].problems


def test_cycle_among_lvs():
    # lva's and lvb's first segments made mirrors of each other
    text = _edit(r'(lva \{.*?)stripes = \[\s*"pv0", 0\s*\]', r'\1mirrors = ["lvb", 0]')
    text = re.sub(r'(lvb \{.*?)stripes = \[\s*"pv0", 4\s*\]', r'\1mirrors = ["lva", 0]', text,
                  count=1, flags=re.S)
    vg, warnings = _vg(text)
    assert any("cycle" in p for p in vg.lvs["lva"].problems)
    assert any("cycle" in w for w in warnings)


def test_absurd_numbers():
    with pytest.raises(MetadataError):
        _vg(_edit(r"extent_size = 2048", "extent_size = 0"))
    vg, warnings = _vg(_edit(r"(lvd \{.*?extent_count = )1", r"\g<1>18446744073709551615"))
    assert any("beyond what any device can hold" in p for p in vg.lvs["lvd"].problems)
    with pytest.raises(MetadataError, match="neither a PV nor an LV"):
        _vg(_edit(r'"pv0", 18', '"pv7", 18'))


def test_activator_refuses_an_lv_with_problems(fixture_images):
    import lvmread

    with lvmread.open(fixture_images.images("oracle/linear")) as disks:
        lv = disks.lv("vg_linear/lvd")
        lv.problems.append("made up for this test")
        with pytest.raises(ActivationError, match="made up for this test"):
            lv.table()


def test_activator_and_device_mapper_agree_on_stacking_depth():
    from lvmread import dm
    from lvmread.activator import plan as activate

    assert activate.MAX_DEPTH == dm.MAX_STACK_DEPTH


def test_shared_extents_beyond_the_neighbouring_range():
    # lva holds extents 0-3 of pv0; move lvb's first segment to 0-4 and lvd to 3: lvd's
    # range overlaps both, not only its neighbour after sorting.
    text = _edit(r'("pv0", )4(\s*\])', r"\g<1>0\2")
    text = re.sub(r'("pv0", )18', r"\g<1>3", text, count=1)
    vg, warnings = _vg(text)
    shared = [w for w in warnings if "share" in w]
    assert any("lva and lvd share extents 3-3" in w for w in shared), shared
    assert any("lvb and lvd share extents 3-3" in w for w in shared), shared
    assert any("lva and lvb share extents 0-3" in w for w in shared), shared
