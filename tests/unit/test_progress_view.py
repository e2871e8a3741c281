"""The progress family, in process: typed events in, lines out (plain path and the terminal path)."""

from __future__ import annotations

import io

from rich.console import Console

from analytiq_data.cli.backup_render import GuideLines, RichBackupBars, backup_line
from analytiq_data.cli.progress_view import (
    PlainLines,
    RichLines,
    TaskFinished,
    TaskStarted,
    count_text,
    eta_text,
    finished_line,
    rate_text,
    title,
)
from analytiq_data.progress import NullProgress, Outcome, Rollup, TaskKind, compatible


def test_rates_name_their_unit_and_steps_have_none() -> None:
    assert rate_text(5000, 2.0, "docs") == "2,500 docs/s"
    assert rate_text(3, 2.0, "collections") == "1.5 collections/s"
    assert rate_text(2, 1.0, "steps") == ""
    assert rate_text(0, 1.0, "docs") == ""
    assert eta_text(500, 1000, 100.0) == "ETA 5.0s"
    assert eta_text(500, None, 100.0) == ""


def test_unknown_total_is_a_count_not_a_fraction() -> None:
    assert count_text(1234, None, "docs") == "1,234 docs"
    assert count_text(1, 2000, "docs") == "1/2,000 docs"
    assert count_text(1, None, "docs") == "1 doc"


def test_a_step_is_called_step_i_of_n() -> None:
    started = TaskStarted("v2 up", "version 2 (B) up", kind=TaskKind.STEP, step=(2, 4))
    assert title(started) == "step 2 of 4: version 2 (B) up"
    line = finished_line(TaskFinished(started, seconds=1.25, message="applied"))
    assert line == "✓ step 2 of 4: version 2 (B) up: applied (1.2s)"


def test_plain_lines_count_what_was_advanced_with_docs_per_second() -> None:
    out = io.StringIO()
    progress = PlainLines(out, interval=0.0)
    progress.start("sample", None, "docs", label="writing the sample")
    progress.advance("sample", 5000)
    progress.finish("sample", outcome=Outcome.OK)
    lines = out.getvalue().splitlines()
    assert lines[0] == "writing the sample: started"
    assert lines[1].startswith("writing the sample: 5,000 docs (") and "docs/s" in lines[1]
    assert "/?" not in out.getvalue()
    assert lines[2].startswith("✓ writing the sample (5,000 docs")


def test_terminal_bars_collapse_to_one_line_each_and_leave_no_bar() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    progress = RichLines(console)
    for i in range(1, 4):
        task = f"v{i} up"
        progress.start(task, None, "steps", kind=TaskKind.STEP, label=f"version {i} up", step=(i, 3))
        progress.finish(task, "applied")
    progress.start("docs", 10)
    progress.advance("docs", 10)
    progress.finish("docs", "10 read, 3 changed", outcome=Outcome.FAILED)
    progress.close()
    assert not progress.bars.tasks  # every finished bar was removed
    text = out.getvalue()
    for i in range(1, 4):
        assert text.count(f"✓ step {i} of 3: version {i} up: applied") == 1
    assert "✗ docs: 10 read, 3 changed" in text
    assert "0/?" not in text


def test_backup_outcomes_are_values_not_words_in_a_message() -> None:
    started = TaskStarted("users (verify)", "users", 10, kind=TaskKind.VERIFY)
    # The message says nothing about differing: the outcome alone decides the mark.
    assert backup_line(TaskFinished(started, 10, outcome=Outcome.DIFFERS, message="10 documents")).startswith(
        "✗ Verified users"
    )
    copied = TaskStarted("users", "users", 10, kind=TaskKind.COPY)
    assert backup_line(TaskFinished(copied, 1234, 2 * 1024 * 1024, 2.0)) == (
        "✓ Copied 1,234 documents (users, 2.0 MB, 2.0s, 617 docs/s)"
    )


def test_guide_lines_keep_the_guides_wording() -> None:
    out, err = io.StringIO(), io.StringIO()
    guide = GuideLines(out, err, interval=0.0)
    guide.start("users", 2, "docs", kind=TaskKind.COPY)
    guide.advance("users", 2, 2048)
    guide.finish("users", "2 documents")
    guide.start("users (verify)", 2, "docs", kind=TaskKind.VERIFY, label="users")
    guide.finish("users (verify)", "2 documents, matches")
    assert out.getvalue().splitlines()[0] == "Backing up collection: users"
    assert out.getvalue().splitlines()[1].startswith("✓ Copied 2 documents (users, 0.0 MB")
    assert out.getvalue().splitlines()[2] == "✓ Verified users: 2 documents, matches"
    assert "docs/s" in err.getvalue() and "MB" in err.getvalue()


def test_backup_bars_on_a_terminal_leave_the_guides_line() -> None:
    out = io.StringIO()
    bars = RichBackupBars(Console(file=out, force_terminal=True, width=120, color_system=None))
    bars.start("users", 2, "docs", kind=TaskKind.COPY)
    bars.advance("users", 2, 10)
    bars.finish("users", "2 documents")
    bars.close()
    assert "✓ Copied 2 documents (users" in out.getvalue()


def test_a_rollup_shows_a_whole_copy_as_one_task_counting_copies_only() -> None:
    out = io.StringIO()
    plain = PlainLines(out)
    rollup = Rollup(plain, "scratch", "copying db")
    rollup.start("a", 3, kind=TaskKind.COPY)
    rollup.advance("a", 3)
    rollup.finish("a")
    rollup.start("a (verify)", 3, kind=TaskKind.VERIFY, label="a")
    rollup.advance("a (verify)", 3)
    rollup.finish("a (verify)", outcome=Outcome.OK)
    rollup.note("Found 1 collections to backup")
    rollup.close("3 documents")
    lines = out.getvalue().splitlines()
    assert lines == ["copying db: started", lines[1]]
    assert lines[1].startswith("✓ copying db: 3 documents")


class OldStyle:
    """A sink written before the keyword arguments existed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def start(self, task: str, total: int | None = None, unit: str = "docs") -> None:
        self.calls.append(("start", task))

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        self.calls.append(("advance", amount))

    def finish(self, task: str, message: str | None = None) -> None:
        self.calls.append(("finish", message))

    def note(self, message: str) -> None:
        self.calls.append(("note", message))


def test_a_sink_written_before_the_keywords_keeps_working() -> None:
    old = OldStyle()
    sink = compatible(old)  # type: ignore[arg-type]
    sink.start("t", 2, "docs", kind=TaskKind.STEP, step=(1, 2))
    sink.advance("t", 2)
    sink.finish("t", "done", outcome=Outcome.FAILED)
    assert old.calls == [("start", "t"), ("advance", 2), ("finish", "done")]
    new = NullProgress()
    assert compatible(new) is new
    plain = PlainLines(io.StringIO())
    assert compatible(plain) is plain
