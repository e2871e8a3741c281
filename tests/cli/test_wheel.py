"""The wheel alone: built from this checkout, installed into a fresh virtualenv in a temporary
directory, it gives ``analytiq-db``, ``backup-db`` and ``python -m analytiq_data``, and a project
that is not Analytiq can init, write and run its own migrations and back up, with the README's commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from pymongo import MongoClient

from tests.migrations_fixtures.helpers import ROOT

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def build_and_install(tmp: Path) -> Path:
    """Build the wheel from a copy of the sources and install it in a new venv; return the venv's bin."""
    src = tmp / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "packages", src / "packages", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([*PIP, "wheel", str(src), "--no-deps", "-q", "-w", str(tmp / "dist")], check=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("analytiq_data-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run(
        [*PIP, "--python", str(venv / "bin" / "python"), "install", "-q", str(wheel)], check=True, timeout=300
    )
    return venv / "bin"


def test_a_fresh_virtualenv_with_only_the_wheel(tmp_path: Path, mongo_uri: str, db_name: str) -> None:
    bin_dir = build_and_install(tmp_path)
    app = tmp_path / "shop"
    app.mkdir()
    (app / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "1"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MONGODB_URI", "ENV")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", ANALYTIQ_DB_LOG=str(tmp_path / "log"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=app, env=env, capture_output=True, text=True, timeout=120)

    expected = version("analytiq_data")
    for command in (["analytiq-db"], ["backup-db"], [str(bin_dir / "python"), "-m", "analytiq_data"]):
        shown = run(*command, "--version")
        assert shown.returncode == 0 and shown.stdout.strip().endswith(expected), shown.stderr
    located = run(str(bin_dir / "python"), "-c", "import analytiq_data; print(analytiq_data.__file__)")
    assert str(tmp_path / "venv") in located.stdout  # the installed wheel, not this checkout

    assert run("analytiq-db", "init").returncode == 0
    made = run("analytiq-db", "new", "add index on users email")
    assert made.returncode == 0 and "(version 1)" in made.stdout, made.stderr
    up = run("analytiq-db", "up", "--uri", mongo_uri, "--db", db_name)
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == f"database {db_name}: version 0 → 1 (1 step applied)"

    copy = run("backup-db", "--src-uri", mongo_uri, "--src", db_name, "--dest", f"{db_name}_copy")
    assert copy.returncode == 0, copy.stderr
    assert "Backup completed successfully!" in copy.stdout
    client: MongoClient[dict[str, object]]
    with MongoClient(mongo_uri) as client:
        assert client[f"{db_name}_copy"].migrations.find_one({"_id": "schema_version"}, {"_id": 0, "version": 1}) == {
            "version": 1
        }

    # Restore, as the README shows it: from the verified copy, and from an archive file.
    restored = run("analytiq-db", "restore", "--uri", mongo_uri, "--db", db_name, "--from", f"{db_name}_copy", "--yes")
    assert restored.returncode == 0, restored.stderr
    archive = tmp_path / "shop.archive"
    dumped = run("backup-db", "--src-uri", mongo_uri, "--src", db_name, "--archive", str(archive))
    assert dumped.returncode == 0, dumped.stderr
    loaded = run("analytiq-db", "restore", "--uri", mongo_uri, "--db", f"{db_name}_files", "--archive", str(archive))
    assert loaded.returncode == 0, loaded.stderr
    with MongoClient(mongo_uri) as client:
        for name in (db_name, f"{db_name}_files"):
            assert client[name].migrations.find_one({"_id": "schema_version"}, {"_id": 0, "version": 1}) == {
                "version": 1
            }
