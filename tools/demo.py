"""``make demo``: the main job on the embedded default server, start to finish.

Starts a SecantusDB server on a free loopback port (storage under ``.state/demo``), runs the
``analytiq-db`` command line against it as a user would, and stops the server it started.
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
    """Run ``analytiq-db ARGS`` (or another command) visibly, as a user would type it."""
    cmd = list(args)
    if cmd[0] == "analytiq-db":
        cmd = [str(Path(sys.executable).parent / "analytiq-db"), *cmd[1:]]
    print(f"\n$ {shlex.join(args)}", flush=True)
    code = subprocess.call(cmd, env=env, cwd=ROOT)
    if check and code != 0:
        raise SystemExit(f"demo: step failed with exit code {code}: {shlex.join(args)}")
    return code


def steps(env: dict[str, str]) -> None:
    """The demo itself: every command runs against the embedded server."""
    run("analytiq-db", "ping", env=env)


def main() -> int:
    """Start the embedded server, run the demo steps, stop the server; return the exit code."""
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    server = TestServer(STATE / "data", name="demo").start()
    print(f"demo: SecantusDB server started (pid {server.pid}) on {server.uri}")
    print(f"demo: connect with: export MONGODB_URI='{server.uri}' ENV=demo")
    env = {**os.environ, "MONGODB_URI": server.uri, "ENV": "demo"}
    try:
        steps(env)
    finally:
        server.stop()
        print(f"\ndemo: server stopped (pid {server.pid}); its data is in {STATE / 'data'}")
    print("demo: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
