"""Every dump mongorestore restores, this tool restores (issue 17 §2): dumps in the shapes of other mongodump
versions and other tools (``tests/data/dumps``) restore with their documents, indexes, options and views,
and what restore assumed is said in one line per kind. ``tests/interop/test_dump_shapes.py`` restores
the same shapes with the real mongorestore and compares.

SecantusDB differs from mongod here: it lists no collation on the ``_id`` index of a collection with a
default collation (mongod does, and a mongodump of mongod carries it, as the 3.4 shape does); the
comparison leaves the ``_id`` index's collation to the collection's options, so both pass.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.safety.restore_files import FileRestoreOptions, restore_files
from tests.data.dumps.shapes import SHAPES, Shape, write
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.recorders import Notes

RAW = bson.CodecOptions(document_class=RawBSONDocument)


def options_for(uri: str, db: str, shape: Shape, where: Path) -> FileRestoreOptions:
    if shape.kind == "archive":
        return FileRestoreOptions(uri=uri, db=db, archive=str(where))
    return FileRestoreOptions(uri=uri, db=db, directory=str(where))


async def assert_holds(db: AsyncDatabase[Any], shape: Shape) -> None:
    """Assert ``db`` holds exactly the shape's collections (documents byte for byte), indexes, options and views."""
    infos = {i["name"]: i async for i in await db.list_collections() if not i["name"].startswith("system.")}
    assert set(infos) - {"migration_lock"} == set(shape.documents) | set(shape.views)
    for name, docs in shape.documents.items():
        raw = db.get_collection(name, codec_options=RAW)
        found = sorted([bytes(d.raw) async for d in raw.find()])
        assert found == sorted(bson.encode(d) for d in docs), name
        indexes = {i["name"]: list(i["key"].items()) async for i in await db[name].list_indexes()}
        assert indexes == {n: list(k) for n, k in shape.indexes[name].items()}, name
        options = infos[name].get("options") or {}
        for key, value in shape.options.get(name, {}).items():
            got = options.get(key)
            if isinstance(value, dict):  # e.g. a collation: the fields given, among those the server adds
                got = {k: (got or {}).get(k) for k in value}
            assert got == value, f"{name}.{key}: {options.get(key)!r}"
        assert "autoIndexId" not in options
    for name, definition in shape.views.items():
        assert infos[name]["type"] == "view"
        assert {k: infos[name]["options"][k] for k in definition} == dict(definition)


@pytest.mark.parametrize("name", list(SHAPES))
async def test_a_dump_of_another_shape_restores_saying_what_was_assumed(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, name: str
) -> None:
    shape, where = write(name, tmp_path / name)
    target = f"{db_name}_{name.replace('.', '')[:20]}"
    notes = Notes()
    result = await restore_files(options_for(mongo_uri, target, shape, where), notes)
    assert result.verified and result.assumed == shape.assumed
    said = [line for line in notes.lines if line.startswith("assumed for ")]
    assert said == [f"assumed for {a}" for a in shape.assumed]
    assert set(result.collections) == set(shape.documents) and set(result.views) == set(shape.views)
    await assert_holds(db.client[target], shape)


def restore_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``analytiq-db restore`` to its end (the test looks at its exit code and output)."""
    return subprocess.run([CLI, "restore", *args], cwd=ROOT, capture_output=True, text=True, timeout=240)


async def test_the_cli_says_each_assumption_in_one_line(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    shape, where = write("other-tool-dir", tmp_path)
    done = restore_cli("--uri", mongo_uri, "--db", f"{db_name}_x", "--dir", str(where), "--yes")
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("assumed for ")]
    assert said == [f"assumed for {a}" for a in shape.assumed] == [
        "assumed for shop.events: an empty metadata file; restored with default options and the _id index",
        "assumed for shop.log: no _id index listed; the server builds it",
        "assumed for shop.users: no metadata file; restored with default options and the _id index",
    ]
    assert "verified" not in done.stdout and "not checked: the documents' bytes" in done.stdout
