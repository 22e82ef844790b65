"""The stored LALR tables are those of grammar/lvm_metadata.lark (the one grammar).

lark numbers LALR states differently from run to run, so the tables are compared by what
they do: the parser loaded from them and one built from the grammar agree on real metadata
and on where a broken text fails.
"""

from __future__ import annotations

import hashlib

import pytest
from conftest import ORACLE

from lvmread import _metadata_tables as stored
from lvmread import metadata
from lvmread.errors import MetadataSyntaxError

TEXTS = sorted(ORACLE.glob("*/guest/vgcfgbackup.txt"))


def test_tables_were_made_from_this_grammar():
    text = metadata.grammar_text()
    assert stored.GRAMMAR_SHA256 == hashlib.sha256(text.encode()).hexdigest(), (
        "grammar changed: run `python -m lvmread.metadata` to regenerate the tables"
    )


def _results(texts: list[str]) -> list:
    out = []
    for text in texts:
        try:
            out.append(metadata.parse_metadata(text))
        except MetadataSyntaxError as exc:
            out.append((exc.line, exc.column, exc.message))
    return out


def test_parser_from_tables_equals_parser_from_grammar(monkeypatch):
    import lark

    if stored.LARK_VERSION != lark.__version__:
        pytest.skip(f"tables made with lark {stored.LARK_VERSION}, running {lark.__version__}")
    texts = [p.read_text() for p in TEXTS]
    texts += [t.replace("}", "", 1) for t in texts[:2]] + [t.replace("=", "", 3) for t in texts[:2]]
    metadata._parser.cache_clear()
    assert metadata._stored_tables(metadata.grammar_text()) is not None
    from_tables = _results(texts)
    metadata._parser.cache_clear()
    monkeypatch.setattr(metadata, "_stored_tables", lambda _text: None)
    try:
        assert _results(texts) == from_tables
    finally:
        metadata._parser.cache_clear()
    assert len(TEXTS) >= 5 and any(isinstance(r, tuple) for r in from_tables)
