"""Benchmark the four Analytiq migrations: shipped vs the original per-document style vs one update_many.

``python -m benchmarks.migrations [--quick]`` starts its own SecantusDB server (tools.testserver),
generates the sample database (20,000 documents; --quick: 2,000) and, on that one server, runs each
migration up and then down in three styles, each on a fresh copy of the same sample, the three styles
one after the other for each step (so each comparison is taken under the same load):

- shipped: the migrations of ``analytiq_data.migrations.migration`` (batch helper + undo journal);
- original: the original code's per-document style, re-created from NOTES.md (``find()`` then one
  ``update_one`` per document, one GridFS rename per OCR file);
- update_many: one server-side ``update_many`` (pipeline) doing the same change as closely as one
  statement can (it cannot tell what up changed from what the app wrote later): the floor.

For each: documents changed, commands sent to the server (every command a CommandListener on the
client sees: reads, getMores, writes, checkpoints, journal), wall time, and peak client memory
(tracemalloc, in a separate pass so it does not slow the timed runs). Timed figures are the median
of 3 runs (--quick: 1). Then the shipped migrations at 20,000 and 200,000 documents (--quick: 2,000
and 10,000) show that memory stays flat as the data grows.

Targets: at most 1 command per 500 documents changed; wall time within 2.5x of update_many.

Last, ``benchmarks.original_list``: a 35-class list written for the original runner (DDL, motor
GridFS, per-document loops), round trips and wall time per step, the original runner vs this engine
with a motor and with a PyMongo client (``--skip-original-list`` leaves it out).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.analytiq.journal import JournaledMigration
from analytiq_data.migrations.analytiq.shapes import FIELD_TYPES_TO_JSON, LLM_NEW_FIELDS, fields_to_json_schema
from analytiq_data.migrations.migration import MIGRATIONS
from analytiq_data.migrations.sample import generate_sample
from benchmarks import original_list
from benchmarks.figures import md_table, write_figures
from tools.testserver import TestServer

Step = Callable[[AsyncDatabase[Any]], Awaitable[Any]]
TARGET_DOCS_PER_COMMAND = 500
TARGET_RATIO = 2.5


class CommandCounter(monitoring.CommandListener):
    """Count every command the client sends while ``active``."""

    def __init__(self) -> None:
        self.active = False
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.active:
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


@dataclass
class Measurement:
    """One step, measured."""

    seconds: float
    commands: int
    peak_bytes: int = 0
    changed: int = 0


async def measure(counter: CommandCounter, step: Step, db: AsyncDatabase[Any], traced: bool) -> Measurement:
    """Run ``step(db)``, counting its commands, its wall time and (if ``traced``) its peak memory."""
    if traced:
        tracemalloc.start()
        tracemalloc.reset_peak()
    counter.count, counter.active = 0, True
    started = time.perf_counter()
    try:
        await step(db)
    finally:
        seconds = time.perf_counter() - started
        counter.active = False
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Measurement(seconds, counter.count, peak)


# --- the original's per-document style, re-created from NOTES.md -------------------------------------


async def original_ocr_up(db: AsyncDatabase[Any]) -> None:
    bucket = AsyncGridFSBucket(db, bucket_name="ocr")
    async for file in db["ocr.files"].find({"filename": {"$regex": "_list$"}}, {"filename": 1}):
        await bucket.rename(file["_id"], file["filename"].replace("_list", "_json"))


async def original_ocr_down(db: AsyncDatabase[Any]) -> None:
    bucket = AsyncGridFSBucket(db, bucket_name="ocr")
    async for file in db["ocr.files"].find({"filename": {"$regex": "_json$"}}, {"filename": 1}):
        await bucket.rename(file["_id"], file["filename"].replace("_json", "_list"))


async def original_llm_up(db: AsyncDatabase[Any]) -> None:
    now = datetime.now(UTC)
    async for run in db["llm.runs"].find({}):
        values = {"updated_llm_result": run.get("llm_result"), "is_edited": False, "is_verified": False}
        values.update(created_at=now, updated_at=now)
        update = {k: v for k, v in values.items() if k not in run}
        if update:
            await db["llm.runs"].update_one({"_id": run["_id"]}, {"$set": update})


async def original_llm_down(db: AsyncDatabase[Any]) -> None:
    async for run in db["llm.runs"].find({}, {"_id": 1}):
        await db["llm.runs"].update_one({"_id": run["_id"]}, {"$unset": dict.fromkeys(LLM_NEW_FIELDS, "")})


async def original_schema_up(db: AsyncDatabase[Any]) -> None:
    async for schema in db.schemas.find({"fields": {"$exists": True}}):
        new = {"schema_format": "json_schema", "json_schema": fields_to_json_schema(schema["fields"])}
        await db.schemas.update_one({"_id": schema["_id"]}, {"$set": new, "$unset": {"fields": ""}})


async def original_schema_down(db: AsyncDatabase[Any]) -> None:
    back = {json: kind for kind, json in FIELD_TYPES_TO_JSON.items() if kind != "datetime"}
    async for schema in db.schemas.find({"json_schema": {"$exists": True}}):
        properties = schema["json_schema"]["json_schema"]["schema"]["properties"]
        fields = [{"name": name, "type": back[p["type"]]} for name, p in properties.items()]
        unset = {"schema_format": "", "json_schema": ""}
        await db.schemas.update_one({"_id": schema["_id"]}, {"$set": {"fields": fields}, "$unset": unset})


def original_rename(old: str, new: str) -> Step:
    async def rename(db: AsyncDatabase[Any]) -> None:
        async for schema in db.schemas.find({old: {"$exists": True}}, {"_id": 1}):
            await db.schemas.update_one({"_id": schema["_id"]}, {"$rename": {old: new}})

    return rename


ORIGINAL: dict[tuple[int, str], Step] = {
    (1, "up"): original_ocr_up,
    (1, "down"): original_ocr_down,
    (2, "up"): original_llm_up,
    (2, "down"): original_llm_down,
    (3, "up"): original_schema_up,
    (3, "down"): original_schema_down,
    (4, "up"): original_rename("json_schema", "response_format"),
    (4, "down"): original_rename("response_format", "json_schema"),
}

# --- one server-side update_many per step: the floor ----------------------------------------------------


def _suffix(old: str, new: str) -> list[dict[str, Any]]:
    stem = {"$substrCP": ["$filename", 0, {"$subtract": [{"$strLenCP": "$filename"}, len(old)]}]}
    return [{"$set": {"filename": {"$concat": [stem, new]}}}]


def _missing(field: str) -> dict[str, Any]:
    return {"$eq": [{"$type": f"${field}"}, "missing"]}


LLM_PIPELINE = [
    {
        "$set": {
            "updated_llm_result": {
                "$cond": [
                    {"$and": [_missing("updated_llm_result"), {"$not": [_missing("llm_result")]}]},
                    "$llm_result",
                    "$updated_llm_result",
                ]
            },
            "is_edited": {"$cond": [_missing("is_edited"), False, "$is_edited"]},
            "is_verified": {"$cond": [_missing("is_verified"), False, "$is_verified"]},
            "created_at": {"$cond": [_missing("created_at"), {"$toDate": "$_id"}, "$created_at"]},
            "updated_at": {"$cond": [_missing("updated_at"), {"$toDate": "$_id"}, "$updated_at"]},
        }
    }
]
_TYPE = {
    "$switch": {"branches": [{"case": {"$eq": ["$$f.type", k]}, "then": v} for k, v in FIELD_TYPES_TO_JSON.items()]}
}
_PROPERTIES = {
    "$arrayToObject": {
        "$map": {
            "input": "$fields",
            "as": "f",
            "in": {
                "k": "$$f.name",
                "v": {
                    "type": _TYPE,
                    "description": {"$replaceAll": {"input": "$$f.name", "find": "_", "replacement": " "}},
                },
            },
        }
    }
}
SCHEMA_PIPELINE = [
    {
        "$set": {
            "schema_format": "json_schema",
            "json_schema": {
                "type": "json_schema",
                "json_schema": {
                    "name": "document_extraction",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "properties": _PROPERTIES,
                        "required": {"$map": {"input": "$fields", "in": "$$this.name"}},
                        "additionalProperties": False,
                    },
                },
            },
        }
    },
    {"$unset": "fields"},
]
_BACK = {
    "$switch": {
        "branches": [
            {"case": {"$eq": ["$$this.v.type", v]}, "then": k} for k, v in list(FIELD_TYPES_TO_JSON.items())[:4]
        ]
    }
}
SCHEMA_BACK = [
    {
        "$set": {
            "fields": {
                "$map": {
                    "input": {"$objectToArray": "$json_schema.json_schema.schema.properties"},
                    "in": {"name": "$$this.k", "type": _BACK},
                }
            }
        }
    },
    {"$unset": ["schema_format", "json_schema"]},
]


# down's change: remove the fields from the runs still as up left them (one statement cannot know which
# runs up changed; this also reverts runs created later in the same unedited state)
LLM_UNEDITED = {
    "is_edited": False,
    "is_verified": False,
    "$expr": {
        "$and": [
            {"$eq": ["$updated_llm_result", "$llm_result"]},
            {"$eq": ["$created_at", {"$toDate": "$_id"}]},
            {"$eq": ["$updated_at", "$created_at"]},
        ]
    },
}


def many(collection: str, filter: dict[str, Any], update: Any) -> Step:
    async def step(db: AsyncDatabase[Any]) -> None:
        await db[collection].update_many(filter, update)

    return step


BASELINE: dict[tuple[int, str], Step] = {
    (1, "up"): many("ocr.files", {"filename": {"$regex": "_list$"}}, _suffix("_list", "_json")),
    (1, "down"): many("ocr.files", {"filename": {"$regex": "_json$"}}, _suffix("_json", "_list")),
    (2, "up"): many("llm.runs", {"$or": [{f: {"$exists": False}} for f in LLM_NEW_FIELDS]}, LLM_PIPELINE),
    (2, "down"): many("llm.runs", LLM_UNEDITED, {"$unset": dict.fromkeys(LLM_NEW_FIELDS, "")}),
    (3, "up"): many(
        "schemas",
        {"fields": {"$exists": True}, "json_schema": {"$exists": False}, "response_format": {"$exists": False}},
        SCHEMA_PIPELINE,
    ),
    (3, "down"): many("schemas", {"json_schema": {"$exists": True}}, SCHEMA_BACK),
    (4, "up"): many("schemas", {"json_schema": {"$exists": True}}, {"$rename": {"json_schema": "response_format"}}),
    (4, "down"): many(
        "schemas", {"response_format": {"$exists": True}}, {"$rename": {"response_format": "json_schema"}}
    ),
}


def shipped_steps() -> dict[tuple[int, str], Step]:
    """Return the shipped migrations' up and down, keyed by (version, direction)."""
    steps: dict[tuple[int, str], Step] = {}
    for version, migration in enumerate(MIGRATIONS, start=1):
        steps[(version, "up")] = migration.up
        steps[(version, "down")] = migration.down
    return steps


STYLES: dict[str, dict[tuple[int, str], Step]] = {
    "shipped": shipped_steps(),
    "original": ORIGINAL,
    "update_many": BASELINE,
}


async def to_change(db: AsyncDatabase[Any], version: int) -> int:
    """Return how many documents migration ``version`` will change (its sample filter, counted)."""
    migration = MIGRATIONS[version - 1]
    assert isinstance(migration, JournaledMigration)
    return await db[migration.collection_name].count_documents(dict(migration.old_shape))


Results = dict[tuple[int, str], Measurement]


async def run_round(
    client: AsyncMongoClient[Any], counter: CommandCounter, styles: list[str], docs: int, traced: bool
) -> dict[str, Results]:
    """Give each style a fresh copy of the sample, then run every step (up 1→4, down 4→1), the styles
    one after the other for each step, so that the compared figures are taken under the same load."""
    dbs = {style: client[f"bench_{style}_{docs}"] for style in styles}
    for db in dbs.values():
        await client.drop_database(db.name)
        await generate_sample(db, docs=docs, seed=0)
    results: dict[str, Results] = {style: {} for style in styles}
    changed: dict[int, int] = {}
    order = [(v, "up") for v in range(1, len(MIGRATIONS) + 1)] + [(v, "down") for v in range(len(MIGRATIONS), 0, -1)]
    for version, direction in order:
        if direction == "up":
            changed[version] = await to_change(dbs[styles[0]], version)
        for style in styles:
            m = await measure(counter, STYLES[style][(version, direction)], dbs[style], traced)
            m.changed = changed[version]
            results[style][(version, direction)] = m
    for db in dbs.values():
        await client.drop_database(db.name)
    return results


def median(
    runs: list[dict[tuple[int, str], Measurement]], peaks: dict[tuple[int, str], Measurement]
) -> dict[tuple[int, str], Measurement]:
    """Return, per step, the median time and commands of ``runs`` and the peak memory of the traced pass."""
    out = {}
    for key in runs[0]:
        out[key] = Measurement(
            seconds=statistics.median(r[key].seconds for r in runs),
            commands=int(statistics.median(r[key].commands for r in runs)),
            peak_bytes=peaks[key].peak_bytes,
            changed=runs[0][key].changed,
        )
    return out


def mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


def report(docs: int, runs: int, table: dict[str, dict[tuple[int, str], Measurement]]) -> list[str]:
    """Print the comparison table; return the targets the shipped migrations miss."""
    misses: list[str] = []
    print(f"\n## {docs:,} documents, median of {runs} run(s)\n")
    columns = ("changed", "cmds", "docs/cmd", "wall s", "vs many", "peak MB")
    header = f"{'step':<38} {'dir':<5} {'style':<12} " + " ".join(f"{c:>8}" for c in columns)
    print(header)
    print("-" * len(header))
    for direction in ("up", "down"):
        for version, migration in enumerate(MIGRATIONS, start=1):
            floor = table["update_many"][(version, direction)].seconds
            for style in STYLES:
                m = table[style][(version, direction)]
                per_cmd = m.changed / m.commands if m.commands else float("inf")
                ratio = m.seconds / floor if floor > 0 else float("nan")
                label = f"{version} {migration.name}" if style == "shipped" else ""
                print(
                    f"{label:<38} {direction:<5} {style:<12} {m.changed:>8,} {m.commands:>8,} {per_cmd:>8,.0f} "
                    f"{m.seconds:>8.2f} {ratio:>7.2f}x {mb(m.peak_bytes):>8}"
                )
                if style == "shipped" and m.changed:
                    if m.commands * TARGET_DOCS_PER_COMMAND > m.changed:
                        misses.append(
                            f"{migration.name} {direction}: {per_cmd:.0f} docs/command < {TARGET_DOCS_PER_COMMAND}"
                        )
                    if ratio > TARGET_RATIO:
                        misses.append(f"{migration.name} {direction}: {ratio:.2f}x update_many > {TARGET_RATIO}x")
        print()
    return misses


def report_scale(sizes: list[int], scale: dict[int, dict[tuple[int, str], Measurement]]) -> None:
    """Print the shipped migrations' peak memory and time per document (traced runs) at each size."""
    small, big = sizes
    print(f"\n## shipped migrations at {small:,} and {big:,} documents: memory stays flat\n")
    print("(peak memory is one batch: it stops growing once a collection holds more than one batch —")
    print(" 5,000 OCR files or schemas, 2,500 LLM runs; at 20,000 documents the schemas are exactly one batch)\n")
    heads = (f"peak MB {small:,}", f"peak MB {big:,}", "ratio", f"µs/doc {small:,}", f"µs/doc {big:,}")
    print(f"{'step':<38} {'dir':<5} " + " ".join(f"{h:>16}" for h in heads))
    for direction in ("up", "down"):
        for version, migration in enumerate(MIGRATIONS, start=1):
            a, b = scale[small][(version, direction)], scale[big][(version, direction)]
            per = [m.seconds / max(m.changed, 1) * 1e6 for m in (a, b)]
            print(
                f"{version} {migration.name:<36} {direction:<5} {mb(a.peak_bytes):>16} {mb(b.peak_bytes):>16} "
                f"{b.peak_bytes / max(a.peak_bytes, 1):>15.1f}x {per[0]:>16.0f} {per[1]:>16.0f}"
            )


def figures_markdown(
    docs: int,
    runs: int,
    table: dict[str, dict[tuple[int, str], Measurement]],
    scale: dict[int, dict[tuple[int, str], Measurement]],
) -> str:
    """Return the figures file's tables: the three styles compared, then memory and time as the data grows."""
    rows = []
    for direction in ("up", "down"):
        for version, migration in enumerate(MIGRATIONS, start=1):
            key = (version, direction)
            ours, orig, floor = table["shipped"][key], table["original"][key], table["update_many"][key]
            per_cmd = f"{ours.changed / ours.commands:,.0f}" if ours.commands else "—"
            ratio = f"{ours.seconds / floor.seconds:.2f}×" if floor.seconds > 0 else "—"
            rows.append([
                f"{version} {migration.name}", direction, f"{ours.changed:,}",
                f"{ours.commands:,} · {per_cmd} · {ours.seconds:.2f} s", f"{orig.commands:,} · {orig.seconds:.1f} s",
                f"{floor.seconds:.2f} s", ratio, f"{mb(ours.peak_bytes)} MB · {mb(orig.peak_bytes)} MB",
            ])  # fmt: skip
    heads = ["migration", "dir", "changed", "shipped: commands · docs/command · wall", "original: commands · wall"]
    heads += ["`update_many` wall", "shipped vs `update_many`", "peak memory (shipped · original)"]
    parts = [f"{docs:,} generated documents, medians of {runs} run(s):", md_table(heads, rows)]
    small, big = sorted(scale)
    grow = []
    for direction in ("up", "down"):
        for version, migration in enumerate(MIGRATIONS, start=1):
            a, b = scale[small][(version, direction)], scale[big][(version, direction)]
            per = [f"{m.seconds / max(m.changed, 1) * 1e6:.0f}" for m in (a, b)]
            grow.append([f"{version} {migration.name}", direction, mb(a.peak_bytes), mb(b.peak_bytes), *per])
    heads = ["migration", "dir", f"peak MB at {small:,}", f"peak MB at {big:,}"]
    heads += [f"µs/document at {small:,}", f"µs/document at {big:,}"]
    parts += [f"The shipped migrations at {small:,} and {big:,} documents (traced runs):", md_table(heads, grow)]
    return "\n\n".join(parts)


async def bench(args: argparse.Namespace) -> int:
    """Run the whole benchmark on one server started here; return 0 if the targets are met."""
    docs, runs = (2_000, 1) if args.quick else (args.docs, args.runs)
    sizes = [2_000, 10_000] if args.quick else [20_000, 200_000]
    server = TestServer(name="bench-migrations").start()
    counter = CommandCounter()
    client: AsyncMongoClient[Any] = AsyncMongoClient(server.uri, tz_aware=True, event_listeners=[counter])
    try:
        build = await client.admin.command("buildInfo")
        version, python = build.get("version"), sys.version.split()[0]
        print(f"# migrations benchmark: SecantusDB (reports MongoDB {version}), pid {server.pid}, Python {python}")
        print("# figures: commands = every command the client sent; peak MB = tracemalloc peak in a separate pass")
        styles = list(STYLES)
        timed: dict[str, list[Results]] = {style: [] for style in styles}
        for run in range(runs):
            for style, results in (await run_round(client, counter, styles, docs, False)).items():
                timed[style].append(results)
            print(f"  run {run + 1}/{runs}: done", file=sys.stderr, flush=True)
        traced = await run_round(client, counter, styles, docs, True)
        table = {style: median(timed[style], traced[style]) for style in styles}
        misses = report(docs, runs, table)
        scale = {docs: traced["shipped"]}  # the traced pass above is the first point when the sizes agree
        for n in sizes:
            if n not in scale:
                scale[n] = (await run_round(client, counter, ["shipped"], n, True))["shipped"]
        report_scale(sizes, scale)
        if not args.quick:
            body = figures_markdown(docs, runs, table, {n: scale[n] for n in sizes})
            print(f"figures written to {write_figures('migrations', 'python -m benchmarks.migrations', body)}")
    finally:
        await client.close()
        server.cleanup()
    print("\n## targets (shipped): <= 1 command per 500 documents changed; wall time <= 2.5x update_many")
    print("\n".join(f"MISSED: {m}" for m in misses) if misses else "all met")
    return 1 if misses else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.migrations", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run on 2,000 documents; scale 2,000 vs 10,000")
    parser.add_argument("--docs", type=int, default=20_000, help="documents in the compared database (default 20,000)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per style, median reported (default 3)")
    parser.add_argument("--skip-original-list", action="store_true", help="leave out the original-app list")
    args = parser.parse_args(argv)
    status = asyncio.run(bench(args))
    if not args.skip_original_list:
        asyncio.run(original_list.bench(args.quick))
    return status


if __name__ == "__main__":
    sys.exit(main())
