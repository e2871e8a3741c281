"""Plain progress lines (what a log or a CI job sees when stderr is not a terminal)."""

from __future__ import annotations

import io

from analytiq_data.cli.render import PlainProgress


def test_plain_progress_says_how_many_in_the_right_number() -> None:
    out = io.StringIO()
    progress = PlainProgress(stream=out)
    progress.start("one", total=1)
    progress.start("many", total=2000)
    progress.start("sample copy", total=1, unit="collections")
    progress.start("unknown")
    lines = out.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "started (1 doc)",
        "started (2,000 docs)",
        "started (1 collection)",
        "started",
    ]
