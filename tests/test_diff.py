"""``lvmread diff``: LVs created, removed, renamed and resized between two versions, on
images whose history lvm2 wrote (the oracle's history scenario, fixtures single and
removed, whose make_fixtures.sh steps say what each version did)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import load_oracle

from lvmread.forensics.diff import diff_versions
from lvmread.vgread.scan import scan


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvmread.cli", *map(str, args)],
        capture_output=True, text=True, check=False,
    )


def _names(d, kind):
    return [x["name"] for x in d["lvs"][kind]]


def test_created_and_renamed(fixture_images):
    o = load_oracle("history")
    img = fixture_images.folder("oracle/history") / o["images"][0]["file"]
    out = _cli("diff", img, "--from", 202, "--to", 204, "--json")
    assert out.returncode == 0, out.stderr
    (d,) = json.loads(out.stdout)
    assert d["vg_name"] == "vg_history"
    assert (d["from"]["seqno"], d["to"]["seqno"]) == (202, 204)
    assert _names(d, "created") == ["keep2"]
    assert d["lvs"]["created"][0]["size"] == o["lv_sha256"]["keep2"]["size_bytes"]
    assert d["lvs"]["renamed"] == [{"uuid": o["lvs_full"]["report"][0]["lv"][0]["lv_uuid"],
                                    "from": "keep1", "to": "keep1r"}]
    assert d["lvs"]["removed"] == d["lvs"]["resized"] == d["lvs"]["changed"] == []
    assert [b["description"] for b in d["between"]] == [
        "Write from lvcreate -y -L 3m -n keep2 vg_history.",
        "Write from lvrename vg_history keep1 keep1r.",
    ]
    text = _cli("diff", img, "--from", 202)
    assert text.returncode == 0
    assert "renamed  keep1r  was keep1" in text.stdout
    assert "created  keep2" in text.stdout and "seqno 202 -> 204" in text.stdout


def test_created_then_removed_is_not_a_change(fixture_images):
    o = load_oracle("history")
    img = fixture_images.folder("oracle/history") / o["images"][0]["file"]
    with scan([str(img)]) as ds:
        (d,) = diff_versions(ds, 2, 200)
    assert d["lvs"] == {"created": [], "removed": [], "renamed": [], "resized": [],
                        "changed": []}
    assert len(d["between"]) == 198 and all(b["present"] for b in d["between"])
    with scan([str(img)]) as ds:
        (d,) = diff_versions(ds, 6, 7)
    assert _names(d, "created") == ["tmp3"]
    with scan([str(img)]) as ds:
        (back,) = diff_versions(ds, 7, 6)  # backwards: the same change, reversed
    assert _names(back, "removed") == ["tmp3"]


def test_resized_and_removed(fixture_images):
    # single: lva 1m (seqno 2), lvb (3), lva +1m (4), lvc (5), lvb removed (6), lva +1.5m (7)
    img = fixture_images.folder("single") / "disk.img"
    out = _cli("diff", img, "--from", 3, "--to", 7, "--json")
    assert out.returncode == 0, out.stderr
    (d,) = json.loads(out.stdout)
    assert _names(d, "created") == ["lvc"]
    assert _names(d, "removed") == ["lvb"]
    (r,) = d["lvs"]["resized"]
    assert (r["name"], r["from_size"], r["to_size"]) == ("lva", 1 << 20, 3584 << 10)
    assert (r["from_extents"], r["to_extents"]) == (2, 7)
    text = _cli("diff", img, "--from", 3, "--to", 7).stdout
    assert "resized  lva" in text and "1.00m -> 3.50m" in text


def test_removed_fixture(fixture_images):
    img = fixture_images.folder("removed") / "disk.img"
    (d,) = json.loads(_cli("diff", img, "--from", 4, "--json").stdout)
    assert d["to"]["seqno"] == 7
    assert _names(d, "created") == ["new"]
    assert _names(d, "removed") == ["gone", "intact"]


def test_segments_moved_and_tags(fixture_images):
    """A pvmove-like move (same size, other extents) and a tag change are 'changed'."""
    import copy

    from lvmread.forensics.diff import diff_vgs
    from lvmread.model.volumes import build_vg
    from lvmread.vgread.history import History

    img = fixture_images.folder("single") / "disk.img"
    with scan([str(img)]) as ds:
        hist = History.of(ds)
        (v,) = hist.usable(hist.vg_uuids()[0], 7)
        tree = hist.tree(v)
    after = copy.deepcopy(tree)
    lvc = after["vg0"]["logical_volumes"]["lvc"]
    lvc["segment1"]["stripes"] = ["pv0", 13]
    lvc["tags"] = ["moved"]
    after["vg0"]["seqno"] = 8
    d = diff_vgs(build_vg(tree), build_vg(after))
    assert d["lvs"]["changed"] == [{"name": "lvc", "uuid": lvc["id"],
                                    "changed": ["segments", "tags"]}]
    assert d["lvs"]["resized"] == [] and d["vg"] == {}


def test_diff_errors(fixture_images):
    img = fixture_images.folder("single") / "disk.img"
    out = _cli("diff", img, "--from", 99)
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()
    assert "seqno 99" in line and "1-7" in line
    out = _cli("diff", img, "--from", 1, "--vg", "nope")
    assert out.returncode == 2 and "nope" in out.stderr
    out = _cli("diff", img)
    assert out.returncode == 2  # --from is required


def test_two_vgs_and_vg_filter(fixture_images):
    single = fixture_images.folder("single") / "disk.img"
    removed = fixture_images.folder("removed") / "disk.img"
    both = json.loads(_cli("diff", single, removed, "--from", 4, "--to", 7, "--json").stdout)
    assert sorted(d["vg_name"] for d in both) == ["vg0", "vgrm"]
    (one,) = json.loads(
        _cli("diff", single, removed, "--from", 4, "--vg", "vgrm", "--json").stdout)
    assert one["vg_name"] == "vgrm"
