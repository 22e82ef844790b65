"""The generated standalone parser is that of grammar/lvm_metadata.lark (the one grammar).

lark numbers LALR states differently from run to run, so the generated parser is compared
by what it does: it and a parser lark builds from the grammar agree on real metadata and on
where a broken text fails.
"""

from __future__ import annotations

import hashlib

from conftest import ORACLE

from lvmread.errors import MetadataSyntaxError
from lvmread.text import _metadata_parser as generated
from lvmread.text import metadata
from lvmread.vgread import history

TEXTS = sorted(ORACLE.glob("*/guest/vgcfgbackup.txt"))


def test_parser_was_made_from_this_grammar():
    text = metadata.grammar_text()
    assert generated.GRAMMAR_SHA256 == hashlib.sha256(text.encode()).hexdigest(), (
        "grammar changed: run `python -m lvmread.text.metadata` to regenerate the parser"
    )
    assert metadata.lark_runtime().standalone


def _results(texts: list[str]) -> list:
    out = []
    for text in texts:
        try:
            out.append(metadata.parse_metadata(text))
        except MetadataSyntaxError as exc:
            out.append((exc.line, exc.column, exc.message))
    return out


def _clear() -> None:
    metadata._parser.cache_clear()
    metadata.lark_runtime.cache_clear()
    history._checker.cache_clear()


def test_standalone_parser_equals_parser_from_grammar(monkeypatch):
    texts = [p.read_text() for p in TEXTS]
    texts += [t.replace("}", "", 1) for t in texts[:2]] + [t.replace("=", "", 3) for t in texts[:2]]
    texts += ["a = 1\nb {\n" * 70 + "}" * 70]  # nested too deep
    _clear()
    assert metadata.lark_runtime().standalone
    standalone = _results(texts)
    checked = [history.check_syntax(t) for t in texts]
    _clear()
    monkeypatch.setattr(metadata, "_standalone", lambda: None)
    try:
        assert not metadata.lark_runtime().standalone
        assert _results(texts) == standalone
        assert [history.check_syntax(t) for t in texts] == checked
    finally:
        _clear()
    assert len(TEXTS) >= 5 and any(isinstance(r, tuple) for r in standalone)
    assert checked[0] is None and all(c is not None for c in checked[-5:])


def test_runtime_imports_nothing_of_lark():
    """Parsing with the generated parser loads no lark module (that is its point)."""
    import subprocess
    import sys

    code = (
        "import sys, lvmread.text.metadata as m\n"
        "m.parse_metadata('vg {\\nid = \"x\"\\n}\\n')\n"
        "print(sorted(n for n in sys.modules if n == 'lark' or n.startswith('lark.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_regenerating_keeps_the_grammar_hash(tmp_path):
    path = tmp_path / "parser.py"
    metadata.write_parser(str(path))
    head = path.read_text().splitlines()[:8]
    assert f"GRAMMAR_SHA256 = {generated.GRAMMAR_SHA256!r}" in head
