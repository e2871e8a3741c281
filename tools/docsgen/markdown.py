"""Small helpers to write Markdown that renders what the text says."""

from __future__ import annotations

import re
from collections.abc import Sequence

_ESCAPED = "\\`*_[]|"


def escape(text: str) -> str:
    """Return ``text`` as literal Markdown (HTML and emphasis characters escaped), on one line."""
    text = re.sub(r"\s+", " ", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(f"\\{c}" if c in _ESCAPED else c for c in text)


def code(text: str) -> str:
    """Return ``text`` as an inline code span (backticks inside are fenced with more backticks)."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a Markdown table of ``rows`` under ``headers``; cells are used as given (escape text first)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |")
    return "\n".join(lines)


def text_block(text: str) -> str:
    """Return ``text`` in a fenced ``text`` block (shown as is, never run as an example)."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def prose(text: str) -> str:
    """Return docstring-style text as Markdown: ````literal```` (or ```literal```) as code, the rest escaped."""
    parts = re.split(r"``(.+?)``|`([^`]+)`", " ".join(text.split()))
    out = []
    for index, part in enumerate(parts):
        if part is None:
            continue
        out.append(code(part) if index % 3 else escape(part))
    return "".join(out)
