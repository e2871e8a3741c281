"""The figures files: each benchmark writes its tables to ``docs/figures/<name>.md`` when it runs.

The documentation includes those files (``--8<-- "figures/<name>.md"``), so the tables readers see
are the ones the last full run printed, never copied by hand. A quick run (``--quick``) writes
nothing: its figures are too small to stand for the benchmark.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a Markdown table (cells as given; ``|`` inside a cell escaped)."""
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def provenance(command: str, when: datetime) -> str:
    """Return the line saying when, where and by what command the figures were measured."""
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    return f"*Measured {when:%Y-%m-%d %H:%M} UTC by `{command}` ({machine}).*"


def write_figures(
    name: str, command: str, body: str, *, when: datetime | None = None, directory: Path = FIGURES
) -> Path:
    """Write ``body`` (Markdown tables) as ``directory/<name>.md`` under a provenance line; return the path."""
    stamp = when or datetime.now(UTC)
    path = directory / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"<!-- written by `{command}`: run it again to update this file; do not edit by hand -->"
    path.write_text(f"{header}\n\n{provenance(command, stamp)}\n\n{body.strip()}\n")
    return path
