"""``lvmread dump``: every header field, line for line what ``pvck --dump headers`` printed
in the oracle guest (guest/pvck_headers_vdX.txt), plus checksums marked good or bad."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys

import pytest
from conftest import ORACLE, ORACLE_SCENARIOS, load_oracle

from lvmread.ondisk.dump import dump_input

PVCK_CASES = [
    (scenario, image["file"], ORACLE / scenario / "guest" / f"pvck_headers_{dev}.txt")
    for scenario in ORACLE_SCENARIOS
    for image in load_oracle(scenario)["images"]
    for dev in [image["guest_dev"].rsplit("/", 1)[-1]]
    if (ORACLE / scenario / "guest" / f"pvck_headers_{dev}.txt").exists()
]


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvmread.cli", *map(str, args)],
        capture_output=True, text=True, check=False,
    )


def _strip_notes(ours: list[str], theirs: list[str]) -> list[str]:
    """Our lines with lvmread's notes removed where pvck's line is their prefix."""
    out = []
    for mine, pv in zip(ours, theirs):
        if mine != pv and (mine.startswith(pv + " # ") or mine.startswith(pv + "; ")):
            mine = pv
        out.append(mine)
    return out + ours[len(theirs):]


@pytest.mark.parametrize("scenario,image,pvck", PVCK_CASES, ids=lambda x: str(x).split("/")[-1])
def test_dump_matches_pvck(scenario, image, pvck, fixture_images):
    path = fixture_images.folder(f"oracle/{scenario}") / image
    out = _cli("dump", path)
    assert out.returncode == 0, out.stderr
    ours = [line.strip() for line in out.stdout.splitlines() if not line.startswith("#")]
    theirs = [line.strip() for line in pvck.read_text().splitlines() if line.strip()]
    assert _strip_notes(ours, theirs) == theirs
    assert "label_header.crc" in out.stdout and "# checksum good" in out.stdout
    assert "CHECK" not in out.stdout


def test_dump_json_fields_and_offsets(fixture_images):
    o = load_oracle("history")
    path = fixture_images.folder("oracle/history") / o["images"][0]["file"]
    out = _cli("dump", "--json", path)
    assert out.returncode == 0, out.stderr
    (inp,) = json.loads(out.stdout)["inputs"]
    (pv,) = inp["pvs"]
    assert pv["ok"] is True and pv["checks"] == [] and "lines" not in pv
    lh = pv["label_header"]
    assert lh["at"] == 512
    assert lh["id"] == {"at": 512, "size": 8, "value": "LABELONE", "expected": "LABELONE",
                        "ok": True}
    assert lh["crc"]["at"] == 528 and lh["crc"]["value"] == lh["crc"]["computed"] == "0x7350ebc7"
    assert lh["crc"]["covers"] == [532, 1024]
    ph = pv["pv_header"]
    assert ph["pv_uuid"]["formatted"] == o["pvs"]["report"][0]["pv"][0]["pv_uuid"]
    assert ph["device_size"] == {"at": 576, "size": 8, "value": 33554432}
    assert [a["offset"]["value"] for a in ph["data_areas"]] == [1048576]
    assert ph["metadata_areas"][0]["at"] == 616
    assert ph["metadata_areas"][0]["size"]["value"] == 1044480
    ext = pv["pv_header_extension"]
    assert ext["at"] == 648 and ext["version"]["value"] == 2
    assert ext["flags"]["names"] == ["PV_EXT_USED"]
    (mh,) = pv["mda_headers"]
    assert mh["at"] == 4096 and mh["checksum"]["ok"] and mh["magic"]["ok"]
    assert mh["checksum"]["value"] == "0x5ae728bf"
    rl0, rl1 = mh["raw_locns"]
    assert (rl0["at"], rl0["role"], rl0["offset"]["value"], rl0["size"]["value"]) == (
        4136, "commit", 311808, 1335)
    assert rl1["at"] == 4160 and rl1["role"] == "precommit" and rl1["size"]["value"] == 0
    text = mh["metadata_text"]
    assert text["at"] == 315904 and text["checksum"]["ok"] and text["ends_with_nul"]
    assert (text["vg_name"], text["seqno"]) == ("vg_history", 204)
    # every field says where it is and how long it is
    def fields(node):
        if isinstance(node, dict):
            if "value" in node:
                yield node
            for v in node.values():
                yield from fields(v)
        elif isinstance(node, list):
            for v in node:
                yield from fields(v)

    fs = list(fields(pv))
    assert len(fs) > 30
    assert all(isinstance(f["at"], int) and f["size"] in (4, 8, 16, 32) for f in fs
               if "size" in f and f is not text["checksum"])


def test_bad_checksums_are_marked(fixture_images, tmp_path):
    o = load_oracle("history")
    img = tmp_path / "bad.img"
    shutil.copyfile(fixture_images.folder("oracle/history") / o["images"][0]["file"], img)
    with open(img, "r+b") as f:
        f.seek(512 + 40)  # a byte of the pv_header uuid: the label crc no longer matches
        f.write(b"#")
        f.seek(4096 + 100)  # inside the mda_header, past the raw_locns
        f.write(b"\x01")
    out = _cli("dump", img)
    assert out.returncode == 1
    assert "label_header.crc 0x7350ebc7 # checksum BAD, computed 0x" in out.stdout
    assert "CHECK: label_header.crc expected 0x" in out.stdout
    assert "mda_header_1.checksum 0x5ae728bf # checksum BAD" in out.stdout
    assert "found bad header or metadata values" in out.stderr
    js = json.loads(_cli("dump", "--json", img).stdout)
    (pv,) = js["inputs"][0]["pvs"]
    assert pv["ok"] is False
    assert pv["label_header"]["crc"]["ok"] is False
    assert pv["mda_headers"][0]["checksum"]["ok"] is False
    assert pv["mda_headers"][0]["metadata_text"]["checksum"]["ok"] is True
    assert len(pv["checks"]) == 2


def test_dump_damaged_label_fields(fixture_images, tmp_path):
    src = fixture_images.folder("single") / "disk.img"
    img = tmp_path / "disk.img"
    shutil.copyfile(src, img)
    with open(img, "r+b") as f:
        f.seek(512 + 8)
        f.write(struct.pack("<Q", 7))  # label_header.sector
        f.seek(512 + 20)
        f.write(struct.pack("<I", 40))  # label_header.offset
    d = dump_input(str(img))
    (pv,) = d["pvs"]
    assert pv["label_header"]["sector"] == {"at": 520, "size": 8, "value": 7, "expected": 1,
                                            "ok": False}
    assert pv["label_header"]["offset"]["ok"] is False
    assert "label_header.sector expected 1" in pv["checks"]
    assert "label_header.offset expected 32" in pv["checks"]
    # the pv_header is still dumped, from right after the label_header as pvck does
    assert pv["pv_header"]["at"] == 544 and pv["mda_headers"]


def test_partitions_two_mdas_labelsector_bootloader(fixture_images):
    mbr = dump_input(str(fixture_images.folder("mbr") / "disk.img"))
    assert [p["device"].rsplit("@", 1)[-1] for p in mbr["pvs"]] == ["p1", "p5"]
    assert all(p["device_start"] > 0 and p["ok"] for p in mbr["pvs"])
    text = _cli("dump", fixture_images.folder("mbr") / "disk.img").stdout
    assert "@p5 (starts at byte" in text
    (mda2,) = dump_input(str(fixture_images.folder("mda2") / "disk.img"))["pvs"]
    assert [m["index"] for m in mda2["mda_headers"]] == [1, 2]
    assert any(line.startswith("mda_header_2 at ") for line in mda2["lines"])
    assert mda2["ok"]
    (ls,) = dump_input(str(fixture_images.folder("labelsector") / "disk.img"))["pvs"]
    assert ls["label_header"]["at"] == 1536 and ls["label_sector"] == 3 and ls["ok"]
    (ba,) = dump_input(str(fixture_images.folder("bootloader") / "disk.img"))["pvs"]
    (area,) = ba["pv_header_extension"]["bootloader_areas"]
    assert area["offset"]["value"] == 1 << 20 and area["size"]["value"] == 1 << 20
    assert any("# bootloader area" in line for line in ba["lines"])
    (nomda,) = dump_input(str(fixture_images.folder("nomda") / "nomda.img"))["pvs"]
    assert nomda["mda_headers"] == [] and "zero metadata copies" in nomda["lines"]


def test_dump_without_label(fixture_images):
    out = _cli("dump", *fixture_images.images("nolabel"))
    assert out.returncode == 1
    assert "no LVM label" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 2  # one line per input
