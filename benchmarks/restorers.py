"""The restores the benchmark compares (``python -m benchmarks.backup --case restore``), each a whole command.

Each runs as the user would run it, a process timed from start to exit (startup included), into a
database that does not exist yet on the destination (which holds other databases):

- ``mongorestore --archive`` / ``--dir``: the real tool (``MONGO_TOOLS_BIN``), from mongodump's files
  of the sample (made once by the real mongodump), renaming the database (``--nsFrom/--nsTo``);
- ``restore --archive`` / ``--dir``: ``analytiq-db restore`` from the same files (checks included:
  CRCs, counts, indexes, options; lock, mark, swap);
- ``server copy``: ``analytiq-db backup`` of the backup database into the restored database's name
  on the same server (the backup engine's verified copy: what ``restore --from`` does to load);
- ``restore --from``: ``analytiq-db restore --from`` that backup database (verification included).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from benchmarks._common import ChildRun
from benchmarks.copiers import MONGO_TOOLS
from benchmarks.figures import md_table

CLI = str(Path(sys.executable).parent / "analytiq-db")
#: The runners, in the order of the table; (numerator, denominator) pairs are the targets.
RESTORERS = (
    "mongorestore --archive",
    "restore --archive",
    "mongorestore --dir",
    "restore --dir",
    "server copy",
    "restore --from",
)
TARGETS: dict[str, tuple[str, str, float]] = {
    "restore --archive / mongorestore --archive": ("restore --archive", "mongorestore --archive", 1.2),
    "restore --dir / mongorestore --dir": ("restore --dir", "mongorestore --dir", 1.2),
    "restore --from / server copy": ("restore --from", "server copy", 1.2),
}
BACKUP_DB = "bench_backup"


def make_dumps(src_uri: str, db: str, folder: Path) -> tuple[Path, Path]:
    """Write mongodump's archive and directory dump of ``db`` into ``folder`` (the real mongodump)."""
    archive, out = folder / "sample.archive", folder / "dump"
    shutil.rmtree(out, ignore_errors=True)
    tool = str(MONGO_TOOLS / "mongodump")
    subprocess.run([tool, f"--uri={src_uri}", f"--db={db}", f"--archive={archive}", "--quiet"], check=True)
    subprocess.run([tool, f"--uri={src_uri}", f"--db={db}", f"--out={out}", "--quiet"], check=True)
    return archive, out


def command(kind: str, p: dict[str, Any]) -> list[str]:
    """Return the command line of one restorer (``p``: dst_uri, src_db, dst_db, archive, dir)."""
    tools = str(MONGO_TOOLS / "mongorestore")
    rename = [f"--nsFrom={p['src_db']}.*", f"--nsTo={p['dst_db']}.*"]
    ours = [CLI, "restore", "--uri", p["dst_uri"], "--db", p["dst_db"], "--yes"]
    commands = {
        "mongorestore --archive": [tools, f"--uri={p['dst_uri']}", f"--archive={p['archive']}", *rename, "--quiet"],
        "mongorestore --dir": [tools, f"--uri={p['dst_uri']}", f"--dir={p['dir']}", *rename, "--quiet"],
        "restore --archive": [*ours, "--archive", p["archive"]],
        "restore --dir": [*ours, "--dir", str(Path(p["dir"]) / p["src_db"])],
        "server copy": [CLI, "backup", "--src-uri", p["dst_uri"], "--src", BACKUP_DB, "--dest", p["dst_db"]],
        "restore --from": [*ours, "--from", BACKUP_DB],
    }
    return commands[kind]


def run_restorer(kind: str, p: dict[str, Any]) -> ChildRun:
    """Run one restorer as a process; time it from start to exit, with the CPU the kernel counted."""
    env = {**os.environ, "ANALYTIQ_DB_LOG": os.devnull}
    started = time.perf_counter()
    proc = subprocess.Popen(command(kind, p), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{kind} failed ({os.waitstatus_to_exitcode(status)}): {err.decode()[-500:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return ChildRun({"seconds": seconds, "cpu": cpu}, cpu, usage.ru_maxrss / 1024)


def load_average() -> str:
    """Return the machine's load (``uptime``'s figures), to print beside the figures."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


class Destination(Protocol):
    """The benchmark's servers (``benchmarks.backup.Bench``): URIs, and the destination put back before each run."""

    src_uri: str
    dst_uri: str

    def take_snapshot(self) -> None:
        """Remember the destination's present state."""

    def reset(self) -> None:
        """Put the destination back in the remembered state."""

    def settle(self) -> None:
        """Wait for the servers to go idle."""


def prepare(bench: Destination, source_db: str, folder: Path) -> dict[str, Any]:
    """Dump the sample with mongodump, put this tool's backup of it on the destination; return the run parameters."""
    from analytiq_data.backup import BackupOptions, backup

    archive, out = make_dumps(bench.src_uri, source_db, folder)
    print(f"backing the sample up into {BACKUP_DB} on the destination (for restore --from) ...", flush=True)
    asyncio.run(backup(BackupOptions(bench.src_uri, source_db, BACKUP_DB, dest_uri=bench.dst_uri, drop=True)))
    bench.take_snapshot()
    return {
        "dst_uri": bench.dst_uri,
        "src_db": source_db,
        "dst_db": "bench_restored",
        "archive": str(archive),
        "dir": str(out),
    }


def measure(bench: Destination, params: dict[str, Any], trials: int) -> dict[str, list[ChildRun]]:
    """Run every restorer ``trials`` times, interleaved (order rotated per trial), the destination reset before each."""
    runs: dict[str, list[ChildRun]] = {k: [] for k in RESTORERS}
    for trial in range(trials):
        order = RESTORERS[trial % len(RESTORERS) :] + RESTORERS[: trial % len(RESTORERS)]
        for kind in order:
            bench.reset()
            bench.settle()
            run = run_restorer(kind, params)
            runs[kind].append(run)
            print(f"  trial {trial + 1}: {kind:24s} {run.report['seconds']:7.2f}s   ({load_average()})", flush=True)
    bench.reset()
    return runs


def report(runs: dict[str, list[ChildRun]], describe: str) -> dict[str, Any]:
    """Print medians, spread and the ratios against the targets; return the figures."""
    seconds = {k: sorted(float(r.report["seconds"]) for r in v) for k, v in runs.items() if v}
    print(f"\n[restore] {describe}; medians of {len(next(iter(seconds.values())))} runs")
    print(f"{'restorer':24s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'max/min':>8s} {'CPU s':>6s}  runs (s)")
    for kind, values in seconds.items():
        cpu = statistics.median(float(r.cpu_s) for r in runs[kind])
        each = ", ".join(f"{float(r.report['seconds']):.1f}" for r in runs[kind])
        spread = values[-1] / values[0] if values[0] > 0 else 0.0
        median = statistics.median(values)
        print(f"{kind:24s} {median:9.2f} {values[0]:7.2f} {values[-1]:7.2f} {spread:8.2f} {cpu:6.2f}  {each}")
    ratios: dict[str, float] = {}
    print()
    for name, (num, den, target) in TARGETS.items():
        if num in seconds and den in seconds:
            ratios[name] = value = statistics.median(seconds[num]) / statistics.median(seconds[den])
            print(f"{name:44s} {value:5.2f}  (target <= {target:.2f}) {'ok' if value <= target else 'MISSED'}")
    print(f"\n{load_average()} at the end (the machine is shared: a high load disturbs the ratios)")
    return {"case": "restore", "describe": describe, "seconds": seconds, "ratios": ratios, "load": load_average()}


def figures_markdown(result: dict[str, Any], start_load: str) -> str:
    """Return the figures file of the restore case: each restorer's median, spread and runs; the ratios."""
    seconds: dict[str, list[float]] = result["seconds"]
    rows = [
        [
            kind,
            f"{statistics.median(values):.2f}",
            f"{values[0]:.2f}",
            f"{values[-1]:.2f}",
            f"{values[-1] / values[0]:.2f}" if values[0] > 0 else "",
        ]
        for kind, values in seconds.items()
    ]
    ratios = [
        [name, f"{value:.2f}", f"{TARGETS[name][2]:.2f}", "met" if value <= TARGETS[name][2] else "missed"]
        for name, value in result["ratios"].items()
    ]
    runs = len(next(iter(seconds.values()), []))
    return (
        f"{result['describe']}; medians of {runs} runs, interleaved; {start_load} at the start, "
        f"{result['load']} at the end.\n\n"
        + md_table(["restorer", "median s", "min s", "max s", "max/min"], rows)
        + "\n\n"
        + md_table(["ratio (medians)", "value", "target", ""], ratios)
    )
