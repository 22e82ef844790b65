"""The fullreport writer gives the same document json.dumps would, laid out like lvm2's."""

from __future__ import annotations

import io
import json

from lvmread.report.lvs import write_json


def _text(report: dict) -> str:
    out = io.StringIO()
    write_json(report, out)
    return out.getvalue()


def test_write_json_round_trips():
    reports = [
        {"report": []},
        {"report": [{"vg": [], "pv": [], "lv": [], "seg": []}]},
        {"report": [
            {"vg": [{"vg_name": "a\"b", "n": 1}], "lv": [{"x": None, "y": [1, 2]}, {"z": "é"}]},
            {"vg": [{"vg_name": "c"}], "seg": []},
        ]},
    ]
    for report in reports:
        text = _text(report)
        assert json.loads(text) == report
        rows = sum(len(rows) for entry in report["report"] for rows in entry.values())
        assert sum(1 for line in text.splitlines() if line.strip().startswith("{\"")) == rows
