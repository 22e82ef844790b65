"""`lvmread ls --json` against lvm2's own ``fullreport --reportformat json --units b`` of
the same images (stored by ``fixtures/oracle/fullreport.sh``): every field lvmread reports
has lvm2's JSON type and text. lvm2 prints every value as a string; lvmread prints numbers
(sizes in bytes, counts) as JSON numbers and a number lvm2 leaves blank as ``null`` (as
lvm2's ``json_std`` format does), and every other field as the string lvm2 prints.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import ORACLE

SCENARIOS = sorted(p.parent.name for p in ORACLE.glob("*/fullreport.json"))
# lvm2 asks the kernel for these (lv_attr's state and health characters: `X` when it
# cannot, as with --driverloaded n); lvmread reports the LV as not active.
LIVE = {"lv_attr"}
KEYS = {"vg": ("vg_uuid",), "pv": ("pv_uuid",), "lv": ("lv_uuid",),
        "seg": ("lv_uuid", "seg_start_pe")}
NUMBER = re.compile(r"-?[0-9]+B?\Z")


def _ls_json(images) -> dict:
    out = subprocess.run([sys.executable, "-m", "lvmread.cli", "ls", "--json", *images],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_field_has_lvm2s_type_and_text(scenario, fixture_images) -> None:
    lvm2 = json.loads((ORACLE / scenario / "fullreport.json").read_text())
    folder = fixture_images.folder(f"oracle/{scenario}")
    devices = {dev: str(folder / img) for dev, img in lvm2["devices"].items()}
    ours = _ls_json([folder / img for img in sorted(lvm2["devices"].values())])

    def lvm2_text(text: str) -> str:
        for dev in sorted(devices, key=len, reverse=True):
            text = text.replace(dev, devices[dev])
        return text

    compared = 0
    for kind, key in KEYS.items():
        theirs = {tuple(r[k] for k in key): r for e in lvm2["report"] for r in e[kind]}
        mine = [r for e in ours["report"] for r in e[kind]]
        assert mine, kind
        for row in mine:
            want = theirs[tuple(str(row[k]) for k in key)]
            for field, value in row.items():
                if field in LIVE or field not in want:
                    continue
                text = lvm2_text(want[field])
                where = (kind, row.get("lv_name", row.get("pv_name")), field)
                if NUMBER.match(text) and field not in ("lv_name", "vg_name"):
                    assert type(value) is int and str(value) == text.rstrip("B"), where
                elif value is None:
                    assert text == "", where  # a number lvm2 leaves blank
                else:
                    assert type(value) is str and value == text, (where, value, text)
                compared += 1
    assert compared > 100
