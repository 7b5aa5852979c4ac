"""One measured block inside a hand-written page: a benchmark rewrites its own block (between
``<!-- KEY: start -->`` and ``<!-- KEY: end -->``) and leaves the prose around it alone; a page
without the block gets it appended (a missing page is created)."""

from __future__ import annotations

from pathlib import Path


def write_block(path: Path, key: str, body: str) -> None:
    start, end = f"<!-- {key}: start -->", f"<!-- {key}: end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text)
