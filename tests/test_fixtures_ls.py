"""`lvmread ls --json` against the reports lvm2 saved beside each fixture it made."""

from __future__ import annotations

import json
import lzma
import subprocess
import sys

import pytest
from conftest import FIXTURES

LVM_FIXTURES = sorted(
    p.parent.name
    for p in FIXTURES.glob("*/devices.json")
    if any(r["pv_uuid"] for r in json.loads((p.parent / "pvs.json").read_text())["report"][0]["pv"])
)


def _load(folder, name):
    path = folder / name
    if path.exists():
        return json.loads(path.read_text())
    return json.loads(lzma.open(path.with_suffix(path.suffix + ".xz")).read())


def _rows(report: dict, kind: str) -> list[dict]:
    return [row for entry in report["report"] for row in entry.get(kind, [])]


def run_ls(*images, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "lvmread.cli", "ls", "--json", *map(str, images)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in out.stderr
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module", params=LVM_FIXTURES)
def fixture(request, fixture_images):
    name = request.param
    src = FIXTURES / name
    folder = fixture_images.folder(name)
    devmap = {
        dev: str(folder / img.split("#")[0]) + (f"@{img.split('#')[1]}" if "#" in img else "")
        for dev, img in _load(src, "devices.json").items()
    }
    images = sorted(folder.glob("*.img"))
    report = json.loads(run_ls(*images).stdout)
    return src, devmap, report


def _map(text: str, devmap: dict) -> str:
    for dev in sorted(devmap, key=len, reverse=True):
        text = text.replace(dev + "(", devmap[dev] + "(").replace(dev + ":", devmap[dev] + ":")
    return text


def test_vgs(fixture):
    src, _, report = fixture
    want = {r["vg_uuid"]: r for r in _rows(_load(src, "vgs.json"), "vg")}
    got = {r["vg_uuid"]: r for r in _rows(report, "vg")}
    assert set(got) == set(want)
    for uuid, w in want.items():
        g = got[uuid]
        assert g["vg_name"] == w["vg_name"]
        for key in ("vg_seqno", "vg_extent_size", "vg_extent_count", "vg_size", "vg_free"):
            assert g[key] == int(w[key]), key
        assert g["pv_count"] == int(w["pv_count"])
        assert g["lv_count"] == int(w["lv_count"])
        assert g["vg_tags"] == w["vg_tags"]


def test_pvs(fixture):
    src, devmap, report = fixture
    want = {r["pv_uuid"]: r for r in _rows(_load(src, "pvs.json"), "pv") if r["pv_uuid"]}
    got = {r["pv_uuid"]: r for r in _rows(report, "pv")}
    assert set(got) == set(want)
    for uuid, w in want.items():
        g = got[uuid]
        assert g["pv_name"] == devmap[w["pv_name"]]
        for key in ("pe_start", "dev_size", "pv_size", "pv_free", "pv_pe_count", "pv_ba_start",
                    "pv_ba_size", "pv_mda_count", "pv_mda_size"):
            assert g[key] == int(w[key]), key
        assert g["pv_tags"] == w["pv_tags"]


def test_lvs_and_segments(fixture):
    src, devmap, report = fixture
    want = _rows(_load(src, "lvs.json"), "seg")
    lvs = {r["lv_uuid"]: r for r in _rows(report, "lv")}
    assert set(lvs) == {w["lv_uuid"] for w in want}
    key = lambda r: (r["lv_uuid"], int(r["seg_start_pe"]))  # noqa: E731
    got = sorted(_rows(report, "seg"), key=key)
    want = sorted(want, key=key)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        lv = lvs[w["lv_uuid"]]
        assert lv["lv_name"] == w["lv_name"]
        assert lv["lv_size"] == int(w["lv_size"])
        assert lv["lv_tags"] == w["lv_tags"]
        assert lv["lv_attr"][:4] + lv["lv_attr"][6:] == w["lv_attr"][:4] + w["lv_attr"][6:]
        assert g["segtype"] == w["segtype"]
        for k in ("stripes", "stripe_size", "seg_start_pe", "seg_size_pe", "seg_size"):
            assert g[k] == int(w[k]), k
        assert g["seg_pe_ranges"] == _map(w["seg_pe_ranges"], devmap)
        assert g["devices"] == _map(w["devices"], devmap)


def test_no_label_is_one_line_error(fixture_images):
    for image in fixture_images.images("nolabel"):
        out = run_ls(image, check=False)
        assert out.returncode == 1
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1
        assert str(image) in lines[0] and "no LVM label" in lines[0]


def test_bad_input_does_not_hide_good_input(fixture_images):
    good = fixture_images.images("single")
    bad = fixture_images.images("nolabel")[0]
    out = run_ls(bad, *good, check=False)
    assert out.returncode == 1
    assert [vg["vg"][0]["vg_name"] for vg in json.loads(out.stdout)["report"]] == ["vg0"]


def test_ignored_metadata_area_is_not_a_disagreement(fixture_images):
    """pvchange --metadataignore: lvm2 stops updating that area; its stale copy is skipped."""
    images = fixture_images.images("mdaignore")
    out = run_ls(*images)
    assert out.stderr == ""
    report = json.loads(out.stdout)["report"][0]
    want = _rows(_load(FIXTURES / "mdaignore", "vgs.json"), "vg")[0]
    assert report["vg"][0]["vg_seqno"] == int(want["vg_seqno"])
    assert {lv["lv_name"] for lv in report["lv"]} == {"early", "late"}
