"""`lvmread ls --json` against lvm2's own reports of the oracle disks (real lvm2, real kernel)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ORACLE_SCENARIOS, load_oracle

from lvmread.report import human_size


def _b(v: str) -> int:
    assert v.endswith("B"), v
    return int(v[:-1])


def _run_ls(images) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "lvmread.cli", "ls", "--json", *map(str, images)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module", params=ORACLE_SCENARIOS)
def scenario(request, fixture_images):
    name = request.param
    oracle = load_oracle(name)
    folder = fixture_images.folder(f"oracle/{name}")
    devmap = {img["guest_dev"]: str(folder / img["file"]) for img in oracle["images"]}
    report = _run_ls([folder / img["file"] for img in oracle["images"]])
    return oracle, devmap, report


def _rows(report: dict, kind: str) -> list[dict]:
    return [row for entry in report["report"] for row in entry[kind]]


def _oracle_rows(oracle: dict, key: str, kind: str) -> list[dict]:
    return [row for entry in oracle[key]["report"] for row in entry[kind]]


def _map_devices(text: str, devmap: dict) -> str:
    for dev in sorted(devmap, key=len, reverse=True):
        text = text.replace(dev, devmap[dev])
    return text


def test_vgs(scenario):
    oracle, _, report = scenario
    want = {r["vg_uuid"]: r for r in _oracle_rows(oracle, "vgs", "vg")}
    got = {r["vg_uuid"]: r for r in _rows(report, "vg")}
    assert set(got) == set(want)
    for uuid, w in want.items():
        g = got[uuid]
        assert g["vg_name"] == w["vg_name"]
        assert g["vg_seqno"] == int(w["vg_seqno"])
        assert g["vg_extent_size"] == _b(w["vg_extent_size"])
        assert g["vg_extent_count"] == int(w["vg_extent_count"])
        assert g["vg_free_count"] == int(w["vg_free_count"])
        assert g["vg_size"] == _b(w["vg_size"])
        assert g["pv_count"] == int(w["pv_count"])
        assert g["lv_count"] == int(w["lv_count"])


def test_pvs(scenario):
    oracle, devmap, report = scenario
    want = {r["pv_uuid"]: r for r in _oracle_rows(oracle, "pvs", "pv")}
    got = {r["pv_uuid"]: r for r in _rows(report, "pv")}
    assert set(got) == set(want)
    for uuid, w in want.items():
        g = got[uuid]
        assert g["pv_name"] == devmap[w["pv_name"]]
        assert g["vg_name"] == w["vg_name"]
        for key in ("pe_start", "dev_size", "pv_size", "pv_free", "pv_ba_start", "pv_ba_size"):
            assert g[key] == _b(w[key]), key
        assert g["pv_mda_count"] == int(w["pv_mda_count"])
        assert g["pv_mda_size"] == _b(w["pv_mda_size"])


def test_lvs(scenario):
    oracle, _, report = scenario
    want = {r["lv_name"]: r for r in _oracle_rows(oracle, "lvs_full", "lv")}
    got = {r["lv_name"]: r for r in _rows(report, "lv")}
    assert set(got) == set(want)
    for name, w in want.items():
        g = got[name]
        assert g["lv_uuid"] == w["lv_uuid"]
        assert g["lv_size"] == _b(w["lv_size"])
        # characters 5 and 6 (active, open) describe the running system, not the disk
        attr = w["lv_attr"]
        assert g["lv_attr"][:4] + g["lv_attr"][6:] == attr[:4] + attr[6:], name
        assert g["seg_count"] == int(w["seg_count"])


def test_segments(scenario):
    oracle, devmap, report = scenario
    want = _oracle_rows(oracle, "lvs", "seg")
    got = _rows(report, "seg")
    assert len(got) == len(want)
    key = lambda r: (r["lv_name"], r["seg_pe_ranges"])  # noqa: E731
    want = [{**w, "seg_pe_ranges": _map_devices(w["seg_pe_ranges"], devmap)} for w in want]
    want = sorted(want, key=key)
    got = sorted(got, key=key)
    for g, w in zip(got, want):
        assert g["lv_name"] == w["lv_name"]
        assert g["segtype"] == w["segtype"]
        assert g["stripes"] == int(w["stripes"])
        assert g["seg_pe_ranges"] == w["seg_pe_ranges"]
        assert g["devices"] == _map_devices(w["devices"], devmap)
        assert human_size(g["seg_size"]) == w["seg_size"]
        assert human_size(g["stripe_size"]) == w["stripe_size"]
