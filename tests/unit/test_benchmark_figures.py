"""The benchmarks write their figures files from their own result objects, and the docs include every one."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import backup, fleet, migrations, original_list
from benchmarks.figures import write_figures
from benchmarks.migrations import Measurement

ROOT = Path(__file__).resolve().parents[2]


def measured(seconds: float, commands: int, changed: int, peak: int) -> dict[tuple[int, str], Measurement]:
    return {
        (v, d): Measurement(seconds * v, commands * v, peak, changed * v) for v in range(1, 5) for d in ("up", "down")
    }


def test_migrations_figures_come_from_the_measurements() -> None:
    table = {
        "shipped": measured(2.0, 10, 8_000, 9_100_000),
        "original": measured(30.0, 8_001, 8_000, 10_600_000),
        "update_many": measured(1.0, 1, 8_000, 0),
    }
    scale = {2_000: measured(0.5, 4, 2_000, 5_000_000), 20_000: measured(5.0, 40, 20_000, 5_500_000)}
    text = migrations.figures_markdown(20_000, 3, table, scale)
    assert "20,000 generated documents, medians of 3 run(s)" in text
    # version 2 up: shipped 20 commands for 16,000 changed (800 per command), 4.00 s, 2.00x update_many's 2.00 s
    assert "| 2 LlmResultFieldsMigration | up | 16,000 | 20 · 800 · 4.00 s | 16,002 · 60.0 s | 2.00 s | 2.00× |" in text
    assert "| 9.1 MB · 10.6 MB |" in text
    # memory and time per document as the data grows: 5.0 -> 5.5 MB; 2 x 0.5 s / 4,000 docs = 250 µs
    assert "| 2 LlmResultFieldsMigration | up | 5.0 | 5.5 | 250 | 250 |" in text


def test_original_list_figures_give_each_runners_overhead_per_step() -> None:
    def figures(commands: int, seconds: float) -> original_list.Figures:
        steps = {(v, "up"): (commands // 4, seconds / 4) for v in range(1, 5)}
        return original_list.Figures(steps=steps, total_cmds=commands, total_s=seconds)

    table = {"original": figures(40, 1.0), "engine/motor": figures(56, 1.5), "engine/pymongo": figures(72, 2.0)}
    text = original_list.figures_markdown(4, 3, table)
    assert "seed scale 4, medians of 3 round(s)" in text
    assert "| original | 40 | 10.0 | — | 1.00 s |" in text
    assert "| engine/pymongo | 72 | 18.0 | +8.0 commands | 2.00 s |" in text


def test_backup_figures_show_each_copier_and_each_target() -> None:
    fig = {k: {"seconds": 20.0, "cpu": 1.0, "max_rss_mb": 70.0, "first_batch": 0.1} for k in backup.KINDS}
    fig["ours"] = {"seconds": 33.0, "cpu": 1.5, "max_rss_mb": 71.0, "first_batch": 0.1}
    result = {
        "case": "sample",
        "describe": "sample --docs 20000; 31 MB of BSON",
        "figures": fig,
        "runs": {"ours": [33.8, 32.5, 33.0]},
        "ratios": {"default / original": 1.65, "no-verify / original": 1.0},
    }
    text = backup.figures_markdown([result])
    assert "**sample** case: sample --docs 20000; 31 MB of BSON; medians:" in text
    assert "| this tool, default (verified) | 33.00 s (33.8, 32.5, 33.0) | 1.50 s | 71 MB |" in text
    assert "| `mongodump --archive \\| mongorestore --archive` | 20.00 s () | 1.00 s | 70 MB |" in text
    assert "| default / original | 1.65× | ≤ 1.50× | missed |" in text
    assert "| no-verify / original | 1.00× | ≤ 1.00× | met |" in text


def test_fleet_figures_give_the_speed_up_and_the_fan_outs_own_commands() -> None:
    rows = [
        fleet.Measured("loop", 20.0, 3_400, 50, 1.5, True, 8.0, 6.0),
        fleet.Measured("jobs 4", 10.0, 3_460, 50, 1.6, True, 8.5, 6.5),
    ]
    args = argparse.Namespace(dbs=50, docs=40)
    text = fleet.report(rows, args, "up 1:00, load average: 1.50")
    assert "50 tenant databases of 40 uploaded documents each (about 188 documents per tenant)" in text
    assert "| loop | 20.0s | 1.00x | 2.5 | 68.0 |  | 8.0s (40%) | 6.0s | 1.50 | yes |" in text
    assert "| jobs 4 | 10.0s | 2.00x | 5.0 | 69.2 | +1.2 | 8.5s (85%) | 6.5s | 1.60 | yes |" in text
    assert "at most +1.2 commands per database (target: ≤ 5: met)" in text


def test_the_figures_file_says_what_measured_it(tmp_path: Path) -> None:
    when = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    path = write_figures("demo", "python -m benchmarks.demo", "| a |\n| --- |\n| 1 |", when=when, directory=tmp_path)
    text = path.read_text()
    assert path == tmp_path / "demo.md"
    assert text.startswith("<!-- written by `python -m benchmarks.demo`")
    assert "*Measured 2026-12-01 09:30 UTC by `python -m benchmarks.demo` (" in text
    assert text.endswith("| a |\n| --- |\n| 1 |\n")


def test_every_figures_file_a_benchmark_writes_is_in_the_docs() -> None:
    names = set()
    for script in (ROOT / "benchmarks").glob("*.py"):
        names |= set(re.findall(r"write_figures\(\s*['\"]([\w-]+)['\"]", script.read_text()))
    assert names == {"migrations", "original-list", "backup", "fleet", "restore", "pitr"}
    pages = "".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    for name in names:
        assert (ROOT / "docs" / "figures" / f"{name}.md").is_file()
        assert f'--8<-- "figures/{name}.md"' in pages
