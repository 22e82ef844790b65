"""Text from disk made safe to print: one line, no terminal escapes."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` on one line whatever a damaged disk put into the names and texts quoted
    from it (newlines, terminal escapes): unprintable characters as ``\\xNN``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
