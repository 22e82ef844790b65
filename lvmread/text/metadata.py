"""LVM2 text metadata: the lark grammar in ``grammar/`` and the transformer that makes dicts.

:func:`parse_metadata` returns nested ``dict`` objects in file order: sections become
dicts, values become ``int``, ``float`` or ``str``, arrays become lists. The parser is
lark's standalone parser generated from the grammar (``_metadata_parser.py``), made once
per process on first use.
"""

from __future__ import annotations

import os
import re
import threading
from functools import cache
from typing import NamedTuple, Optional, Union

from ..errors import MetadataError, MetadataSyntaxError
from ..limits import MAX_METADATA_TEXT

GRAMMAR_FILE = "lvm_metadata.lark"

Value = Union[int, float, str, list, dict]


def grammar_path() -> str:
    """The grammar file: ``lvmread/grammar/`` when installed, ``grammar/`` in the source tree."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # lvmread/
    source_tree = os.path.dirname(package)
    for folder in (os.path.join(package, "grammar"), os.path.join(source_tree, "grammar")):
        path = os.path.join(folder, GRAMMAR_FILE)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"lvmread's metadata grammar {GRAMMAR_FILE} is not installed")


def grammar_text() -> str:
    """Return the text of the metadata grammar."""
    with open(grammar_path(), encoding="utf-8") as f:
        return f.read()


PIECES = ("KEY", "EQUALS", "QUOTED", "WORD", "LINE_ARRAY", "TRAILING", "ASSIGNMENT", "COMMENT")
"""The grammar's terminals whose patterns lvmread uses outside the parser."""


def grammar_patterns(text: str) -> dict[str, str]:
    """The regex of each of :data:`PIECES` as lark compiles the grammar ``text`` (which
    imports lark: the generated parser module carries the result as ``TERMINALS``)."""
    from lark.load_grammar import load_grammar

    grammar, _ = load_grammar(text, GRAMMAR_FILE, [], False)
    terminals, _, _ = grammar.compile(["start"], "*")  # "*": the pieces no rule uses too
    return {t.name: t.pattern.to_regexp() for t in terminals if t.name in PIECES}


class Syntax:
    """The regexes lvmread matches metadata text with outside the parser, all made of the
    grammar's own pieces (see :data:`PIECES`)."""

    def __init__(self, patterns: dict[str, str]) -> None:
        self.patterns = patterns
        key, equals, quoted = patterns["KEY"], patterns["EQUALS"], patterns["QUOTED"]
        word, line_array, trailing = patterns["WORD"], patterns["LINE_ARRAY"], patterns["TRAILING"]
        #: a quoted string (an "unrolled loop": no group repeats per character)
        self.quoted = re.compile(quoted)
        #: the grammar's ASSIGNMENT with its key and its value (string, array or scalar) as
        #: groups; consecutive matches tile an ASSIGNMENTS token, so nothing inside a
        #: comment is taken for an assignment
        self.assignment = re.compile(
            f"({key}){equals}(?:({quoted})|({line_array})|({word})){trailing}"
        )
        #: the value at the start of a STRING or SCALAR token
        self.value = re.compile(f"{quoted}|{word}")
        #: one item of a one-line array, given the text between its brackets
        self.array_item = re.compile(f'({quoted})|([^\\s,"]+)')
        #: what counts when finding how deep sections nest
        self.nesting = re.compile(f"{quoted}|{patterns['COMMENT']}|[{{}}]")


def _unescape(body: str) -> str:
    """lvm2's ``dm_unescape_double_quotes``: ``\\"`` and ``\\\\`` become ``"`` and ``\\``,
    any other backslash stays. Splitting at each ``\\\\`` from the left pairs backslashes as
    a left-to-right scan does, and costs a few string passes, not a call per escape."""
    return "\\".join(part.replace('\\"', '"') for part in body.split("\\\\"))


def unquote(quoted: str) -> str:
    """Strip the quotes of an lvm2 string (a match of the grammar's QUOTED); only ``\\"``
    and ``\\\\`` are escapes."""
    body = quoted[1:-1]
    return _unescape(body) if "\\" in body else body


_FLOAT = re.compile(r"(?:[0-9]+\.[0-9]*|\.[0-9]+)\Z")
_HEX = re.compile(r"0[xX][0-9a-fA-F]{1,16}\Z")
MAX_DIGITS = 40
"""Longer runs of digits are words, not numbers (no value of lvm2's is that long)."""


def _scalar(text: str) -> Union[int, float, str]:
    """An unquoted value: decimal or hex integer, float, or a bare word.

    Only ASCII forms count as numbers (Python's ``int`` would also take ``1_000`` or
    non-ASCII digits, which lvm2 does not).
    """
    body = text[1:] if text[0] in "+-" else text
    if body.isascii():
        if body.isdigit():
            if len(body) <= MAX_DIGITS:
                return int(text)
        elif _HEX.match(body):
            return int(text, 16)
        elif _FLOAT.match(body):
            return float(text)
    return text


def _value(text: str, pos: int = 0) -> Union[int, float, str]:
    """The value that starts at ``text[pos]`` (after blanks), ignoring what follows it."""
    raw = syntax().value.match(text, pos).group()  # type: ignore[union-attr]
    return unquote(raw) if raw[0] == '"' else _scalar(raw)


def _array_items(array: str) -> list:
    """The values of a one-line array (a match of the grammar's LINE_ARRAY)."""
    items: list = []
    for quoted, word in syntax().array_item.findall(array, 1, len(array) - 1):
        if quoted:
            body = quoted[1:-1]
            items.append(_unescape(body) if "\\" in body else body)
        else:
            items.append(_scalar(word))
    return items


def _entries(children: list, section: Optional[str] = None) -> dict:
    """Collect the entries of a section (or of the whole text) into a dict.

    A key given twice keeps its first value, as lvm2 does (it warns and uses the first
    node it finds); the repeats are noted for :func:`parse_metadata`'s warnings. Counting
    entries costs nothing much: only when the count and the dict disagree is the section
    read again, entry by entry.
    """
    out: dict = {}
    n = 0
    assignment = syntax().assignment.findall
    for child in children:
        if type(child) is tuple:  # a section or a multi-line array
            out[child[0]] = child[1]
            n += 1
            continue
        found = assignment(child)
        n += len(found)
        for key, string, array, scalar in found:
            if string:
                out[key] = unquote(string)
            elif array:
                out[key] = _array_items(array)
            else:
                out[key] = _scalar(scalar)
    if n != len(out):
        return _first_wins(children, section)
    return out


def _first_wins(children: list, section: Optional[str]) -> dict:
    """:func:`_entries` for a section that repeats a key: the first value of each key is
    kept and each repeat is noted, with its line and the first one's."""
    out: dict = {}
    first: dict[str, int] = {}
    for child in children:
        if type(child) is tuple:  # (name, value, ..., head token)
            key, line = child[0], child[-1].line
            if key in out:
                if type(child[1]) is dict:
                    _repeats.sections.append(RepeatedSection(out, key, line, first[key]))
                _note_repeat(key, line, first[key], section, type(child[1]) is dict)
            else:
                out[key], first[key] = child[1], line
            continue
        line, pos = child.line, 0
        for m in syntax().assignment.finditer(child):
            key = m.group(1)
            line += child.count("\n", pos, m.start())
            pos = m.start()
            if key in out:
                _note_repeat(key, line, first[key], section)
                continue
            first[key] = line
            string, array, scalar = m.group(2, 3, 4)
            if string:
                out[key] = unquote(string)
            elif array:
                out[key] = _array_items(array)
            else:
                out[key] = _scalar(scalar)
    return out


MAX_REPEAT_WARNINGS = 5
"""Repeated keys listed one by one in the warnings; past this, one line counts the rest."""


class RepeatedSection(NamedTuple):
    """A section name given twice in one section: the later one is not in the dict."""

    container: dict
    """The dict of the section that holds both (the first one's value is in it)."""
    key: str
    line: int
    first: int
    """The line of the first one."""


class _Repeats(threading.local):
    """The repeated keys found by the parse running in this thread."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.more = 0
        self.sections: list[RepeatedSection] = []


_repeats = _Repeats()


def _note_repeat(
    key: str, line: int, first: int, section: Optional[str], is_section: bool = False
) -> None:
    if len(_repeats.lines) >= MAX_REPEAT_WARNINGS:
        _repeats.more += 1
        return
    where = f" in section {section!r}" if section is not None else ""
    # lvm2 looks a key up by name (the first node wins, with a warning) but reads every
    # LV, PV and segment section in turn, so it would read a repeated one twice
    used = ("the first is used (lvm2 reads both sections and may refuse the metadata)"
            if is_section else "the first is used, as lvm2 does")
    _repeats.lines.append((line, f"line {line}: {key!r}{where} repeats the one at line "
                                 f"{first}; {used}"))


class MetadataTree(dict):
    """What :func:`parse_metadata` returns for a text that repeats a key: the dict, in
    ``warnings`` one line per repeat, and in ``repeated_sections`` every repeated section
    (a text with no repeats gives a plain ``dict``)."""

    warnings: list[str]
    repeated_sections: list[RepeatedSection]


def metadata_warnings(tree: dict) -> list[str]:
    """The warnings of a parsed text (see :class:`MetadataTree`); none for a plain dict."""
    return getattr(tree, "warnings", [])


def repeated_sections(tree: dict) -> list[RepeatedSection]:
    """The sections a parsed text repeats: lvm2 looks most keys up by name (the first
    wins) but reads every LV, PV and segment section in turn, so it would read both."""
    return getattr(tree, "repeated_sections", [])


def _warned(tree: dict, source: Optional[str]) -> MetadataTree:
    out = MetadataTree(tree)
    out.repeated_sections, _repeats.sections = _repeats.sections, []
    at = f"{source}: " if source else ""
    out.warnings = [f"{at}metadata {w}" for _, w in sorted(_repeats.lines)]
    if _repeats.more:
        out.warnings.append(f"{at}metadata repeats {_repeats.more} more keys; the first of "
                            "each is used")
    return out




def over_limit(size: int) -> Optional[str]:
    """Why a metadata text of ``size`` bytes is not read or parsed, or None if it may be."""
    if size <= MAX_METADATA_TEXT:
        return None
    return f"metadata text of {size} bytes is over lvmread's limit of {MAX_METADATA_TEXT} bytes"


MAX_DEPTH = 64
"""Deepest nesting of sections accepted (lvm2 writes 4: VG, logical_volumes, LV, segment).
Parsing is iterative, but what uses the dicts (comparing, copying, JSON) recurses."""


class TooDeep(Exception):
    """Sections nest deeper than :data:`MAX_DEPTH` (raised inside the parser's callbacks)."""


def _too_deep_at(text: str) -> tuple[int, int]:
    """Line and column of the ``{`` that opens a section deeper than MAX_DEPTH."""
    depth = 0
    for m in syntax().nesting.finditer(text):
        c = m.group()
        if c == "{":
            depth += 1
            if depth > MAX_DEPTH:
                at = m.start()
                return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
        elif c == "}":
            depth -= 1
    return text.count("\n") + 1, 1


class _Spliced:
    """What lark's internal list rules build: it needs only ``children``."""

    __slots__ = ("children",)

    def __init__(self, children: list) -> None:
        self.children = children


def _make_transformer(base: type):
    class MetadataTransformer(base):  # type: ignore[misc,valid-type]
        """Builds dicts while the LALR parser runs (no parse tree is made)."""

        __visit_tokens__ = False

        def __default__(self, data, children, meta):
            # Only lark's own list rules (the expansions of `x*`) land here; their
            # children are spliced into the parent, so a bare holder is enough.
            return _Spliced(children)

        def start(self, children: list) -> dict:
            return _entries(children)

        def section(self, children: list) -> tuple[str, dict, int, str]:
            head = children[0]
            # (name, entries, how deep sections nest in it: see MAX_DEPTH, head token)
            depth = 1 + max((c[2] for c in children if type(c) is tuple and len(c) == 4),
                            default=0)
            if depth > MAX_DEPTH:
                raise TooDeep()
            name = head[: head.index("{")].rstrip()
            return name, _entries(children[1:-1], name), depth, head

        def array(self, children: list) -> tuple[str, list, str]:
            head = children[0]
            items = [_value(c) for c in children[1:-1] if c.type != "COMMA"]
            return head[: head.index("=")].rstrip(), items, head

    return MetadataTransformer()


_LARK_OPTIONS = {"parser": "lalr", "lexer": "contextual", "maybe_placeholders": False}
PARSER_MODULE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_metadata_parser.py")


def _grammar_sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def write_parser(path: str = PARSER_MODULE) -> None:
    """Write lark's standalone LALR parser of the grammar (``python -m lvmread.text.metadata``).

    lark's standalone tool writes lark's parsing runtime and the grammar's tables into one
    module that imports nothing of lark: loading it costs about a third of importing lark
    and building the tables from the grammar at every start would cost 30 ms more. The
    module records the grammar's sha256 and is used only while the grammar still matches.
    """
    import io

    from lark import Lark
    from lark.tools.standalone import gen_standalone

    text = grammar_text()
    out = io.StringIO()
    gen_standalone(Lark(text, **_LARK_OPTIONS), out=out)
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            "# Generated by `python -m lvmread.text.metadata` from grammar/lvm_metadata.lark with\n"
            "# lark's standalone tool: lark's LALR runtime and the tables of that grammar.\n"
            "# Do not edit; regenerate after changing the grammar. (The generated code is\n"
            "# under the Mozilla Public License 2.0, as its own header below says.)\n"
            "# ruff: noqa\n"
            f"GRAMMAR_SHA256 = {_grammar_sha256(text)!r}\n"
            "# The patterns of the grammar's pieces (lvmread.text.metadata.PIECES), which the\n"
            "# parser's tables do not keep: no token is made of them alone.\n"
            f"TERMINALS = {grammar_patterns(text)!r}\n"
        )
        f.write(out.getvalue())


class LarkRuntime:
    """The lark classes the metadata parsers are made of, from one of two places.

    Normally lark's standalone parser generated from the grammar (``_metadata_parser.py``);
    if that was made from another grammar (an edit not yet regenerated) or is missing,
    lark itself, building the tables from the grammar file.
    """

    def __init__(self, module) -> None:
        self.standalone = module is not None
        if module is None:
            import lark.exceptions as module  # type: ignore[no-redef]
            from lark import Lark, Transformer

            self._lark = Lark
            self.Transformer = Transformer
        else:
            self._lark = None
            self.Transformer = module.Transformer
        self._module = module
        #: the regex of each of the grammar's :data:`PIECES`
        self.patterns: dict[str, str] = (
            grammar_patterns(grammar_text()) if self._lark else module.TERMINALS
        )
        self.LarkError = module.LarkError
        self.UnexpectedInput = module.UnexpectedInput
        self.UnexpectedCharacters = module.UnexpectedCharacters
        self.UnexpectedEOF = module.UnexpectedEOF

    def parser(self, transformer):
        """An LALR parser of the metadata grammar that calls ``transformer`` as it reduces."""
        if self._lark is None:
            return self._module.Lark_StandAlone(transformer=transformer)
        return self._lark(grammar_text(), transformer=transformer, **_LARK_OPTIONS)


def _standalone():
    """The generated standalone parser module, if it was made from this grammar."""
    try:
        from . import _metadata_parser as generated
    except ImportError:
        return None
    if generated.GRAMMAR_SHA256 != _grammar_sha256(grammar_text()):
        return None
    return generated


@cache
def lark_runtime() -> LarkRuntime:
    """The :class:`LarkRuntime` of this process (made once, on first use)."""
    return LarkRuntime(_standalone())


@cache
def syntax() -> Syntax:
    """The :class:`Syntax` of this process's grammar (made once, on first use)."""
    return Syntax(lark_runtime().patterns)


@cache
def _parser():
    rt = lark_runtime()
    return rt.parser(_make_transformer(rt.Transformer))


def parse_metadata(text: str, source: Optional[str] = None) -> dict:
    """Parse LVM2 metadata text into nested dicts.

    ``source`` names where the text came from (a file, or ``disk.img: offset 4608``)
    and is used in the :class:`MetadataSyntaxError` raised for text that does not parse,
    and in the warnings of a text that repeats a key (a :class:`MetadataTree` is returned).
    """
    too_big = over_limit(len(text))
    if too_big is not None:  # whatever path the text took (a current copy, the ring, a file)
        raise MetadataError(too_big, file=source)
    rt = lark_runtime()
    UnexpectedCharacters, UnexpectedEOF = rt.UnexpectedCharacters, rt.UnexpectedEOF
    UnexpectedInput = rt.UnexpectedInput
    _repeats.lines, _repeats.more, _repeats.sections = [], 0, []
    try:
        tree = _parser().parse(text)
        if not _repeats.lines and not _repeats.more:
            return tree
        return _warned(tree, source)
    except TooDeep:
        line, column = _too_deep_at(text)
        raise MetadataSyntaxError(
            f"sections nest more than {MAX_DEPTH} deep", file=source, line=line, column=column
        ) from None
    except UnexpectedEOF as exc:
        lines = text.count("\n") + 1
        raise MetadataSyntaxError(
            f"metadata text ends early (expected {', '.join(sorted(exc.expected))})",
            file=source,
            line=lines,
            column=len(text) - text.rfind("\n"),
        ) from None
    except UnexpectedCharacters as exc:
        bad = text[exc.pos_in_stream : exc.pos_in_stream + 20].split("\n")[0]
        raise MetadataSyntaxError(
            f"metadata syntax error at {bad!r}", file=source, line=exc.line, column=exc.column
        ) from None
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        if token is not None and token.type == "$END":  # LALR reports the end as a token
            raise MetadataSyntaxError(
                f"metadata text ends early (expected {', '.join(sorted(exc.expected))})",
                file=source,
                line=text.count("\n") + 1,
                column=len(text) - text.rfind("\n"),
            ) from None
        shown = str(token).strip().split("\n")[0][:40] if token is not None else ""
        what = f"unexpected {shown!r}" if token is not None else "unexpected input"
        raise MetadataSyntaxError(
            f"metadata syntax error: {what}",
            file=source,
            line=getattr(exc, "line", None),
            column=getattr(exc, "column", None),
        ) from None


if __name__ == "__main__":
    write_parser()
    print(f"wrote {PARSER_MODULE}")
