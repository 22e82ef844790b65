"""Forensics: every metadata version in the rings, what later versions did with
an older version's extents, and diffs between versions."""
