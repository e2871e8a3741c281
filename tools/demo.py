"""``make demo``: the main job on the embedded default server, start to finish.

Starts two SecantusDB servers on free loopback ports (storage under ``.state/demo``): the app's
server and a backup server. Against them it runs the ``analytiq-db`` command line as a user
would: a realistic sample database at version 0, migrations up, down and up again with status
between, the CI gate, then a verified backup to the other server with ``backup_db.py`` exactly as
the guide shows, and a consistent (point-in-time) archive restored on the other server. It stops
the servers it started, even when a step fails.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tools.testserver import TestServer

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".state" / "demo"


def run(*args: str, env: dict[str, str], check: bool = True) -> int:
    """Run ``analytiq-db ARGS`` (or ``python backup_db.py``) visibly, as a user would type it."""
    cmd = list(args)
    if cmd[0] == "analytiq-db":
        cmd = [str(Path(sys.executable).parent / "analytiq-db"), *cmd[1:]]
    elif cmd[0] == "python":
        cmd = [sys.executable, *cmd[1:]]
    print(f"\n$ {shlex.join(args)}", flush=True)
    code = subprocess.call(cmd, env=env, cwd=ROOT)
    if check and code != 0:
        raise SystemExit(f"demo: step failed with exit code {code}: {shlex.join(args)}")
    return code


def steps(env: dict[str, str], backup_uri: str) -> None:
    """The demo itself: every command runs against the embedded servers."""
    run("analytiq-db", "ping", env=env)
    run("analytiq-db", "sample", "--docs", "2000", env=env)
    run("analytiq-db", "status", env=env)
    run("analytiq-db", "rehearse", "--sample", "300", env=env)
    run("analytiq-db", "up", "--dry-run", env=env)
    run("analytiq-db", "up", env=env)
    run("analytiq-db", "status", env=env)
    run("analytiq-db", "down", "--to", "1", env=env)
    run("analytiq-db", "status", env=env)
    run("analytiq-db", "up", env=env)
    run("analytiq-db", "history", env=env)
    run("analytiq-db", "check", env=env)
    src = env["MONGODB_URI"]
    run(
        "python",
        "backup_db.py",
        "--src-uri",
        src,
        "--dest-uri",
        backup_uri,
        "--src",
        "demo",
        "--dest",
        "demo_backup",
        env=env,
    )
    run(
        "analytiq-db",
        "backup",
        "--verify-only",
        "--src-uri",
        src,
        "--dest-uri",
        backup_uri,
        "--src",
        "demo",
        "--dest",
        "demo_backup",
        env=env,
    )
    archive = str(STATE / "demo.archive.gz")
    dump = ["--src-uri", src, "--src", "demo", "--archive", archive, "--gzip", "--consistent"]
    run("analytiq-db", "backup", *dump, env=env)
    run("analytiq-db", "restore", "--uri", backup_uri, "--db", "demo_restored", "--archive", archive, "--gzip", env=env)


def main() -> int:
    """Start the embedded server, run the demo steps, stop the server; return the exit code."""
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    servers: list[TestServer] = []
    try:
        app = TestServer(STATE / "app", name="demo-app").start()
        servers.append(app)
        backup = TestServer(STATE / "backup", name="demo-backup").start()
        servers.append(backup)
        print(f"demo: SecantusDB app server started (pid {app.pid}) on {app.uri}")
        print(f"demo: SecantusDB backup server started (pid {backup.pid}) on {backup.uri}")
        print(f"demo: connect with: export MONGODB_URI='{app.uri}' ENV=demo")
        env = {**os.environ, "MONGODB_URI": app.uri, "ENV": "demo"}
        steps(env, backup.uri)
    finally:
        for server in servers:
            server.stop()
            print(f"demo: server stopped (pid {server.pid}); its data is in {server.storage}")
    print("demo: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
