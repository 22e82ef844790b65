"""Shared test fixtures: decompressed copies of the fixture images.

Images are stored xz-compressed under ``fixtures/``; each test session decompresses
the ones it uses once into a temporary folder. Tests never touch the originals.
"""

from __future__ import annotations

import json
import lzma
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
ORACLE = FIXTURES / "oracle"
ORACLE_SCENARIOS = sorted(p.parent.name for p in ORACLE.glob("*/oracle.json"))


def _decompress(src: Path, dest: Path) -> Path:
    out = dest / src.name[: -len(".xz")]
    if not out.exists():
        with lzma.open(src) as fin, open(out, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    return out


class FixtureImages:
    """Decompresses fixture folders on demand into one session temp dir."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def folder(self, rel: str) -> Path:
        src = FIXTURES / rel
        dest = self.base / rel
        dest.mkdir(parents=True, exist_ok=True)
        for f in sorted(src.glob("*.img.xz")):
            _decompress(f, dest)
        return dest

    def images(self, rel: str) -> list[Path]:
        return sorted(self.folder(rel).glob("*.img"))


@pytest.fixture(scope="session")
def fixture_images(tmp_path_factory) -> FixtureImages:
    return FixtureImages(tmp_path_factory.mktemp("fixtures"))


def load_oracle(scenario: str) -> dict:
    return json.loads((ORACLE / scenario / "oracle.json").read_text())
