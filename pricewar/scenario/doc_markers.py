"""Generated parts of the docs: the text between a pair of HTML-comment markers is rewritten from
the code (the ODD parameter table, docs/parameters.md, the data dictionary of docs/outputs.md),
and tests check that the committed text equals what the code generates."""

from __future__ import annotations

import re
from pathlib import Path


def rewrite_between_markers(path: Path, begin: str, end: str, body: str) -> bool:
    """Put ``body`` between the markers ``begin`` and ``end`` of ``path``; True if the file
    changed. Raises ValueError if the file lacks the markers."""
    text = path.read_text()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path}: no {begin} ... {end} markers")
    new = pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)
    if new != text:
        path.write_text(new)
    return new != text
