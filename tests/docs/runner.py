"""Run a documentation page's examples in order: console blocks in bash, python blocks in this process.

State carried from block to block, as a reader's terminal and interpreter would keep it: the shell's
working directory and exported variables (dumped at the end of each console block, ``env -0``),
and one Python namespace per page. See ``tests/docs/examples.py`` for the conventions.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from tests.docs.examples import Block, Command, ExampleError, console_commands, output_matches, page_blocks

MARK = "\x1e"
BLOCK_TIMEOUT_S = 240.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TOOLS = re.compile(r"\b(mongodump|mongorestore|bsondump)\b")
#: Names from the environment of the test run that would point an example elsewhere than the test servers.
_DROPPED = re.compile(r"^(ANALYTIQ_DB_.*|BACKUP_(SRC|DEST)_URI|MONGODB_URI.*|ENV|PYTEST_.*|COV_.*)$")


@dataclass
class PageState:
    """What one page's examples share: the shell's directory and environment, the Python namespace."""

    cwd: Path
    env: dict[str, str]
    scratch: Path  # the runner's own files (script, statuses), outside the examples' directory
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__docs_example__"})


def example_environment(workdir: Path, uri: str, uri_2: str, db_name: str) -> dict[str, str]:
    """Return the environment examples run in: the test servers, a fresh database, the log in ``workdir``."""
    env = {k: v for k, v in os.environ.items() if not _DROPPED.match(k)}
    path = [str(Path(sys.executable).parent)]
    tools = os.environ.get("MONGO_TOOLS_BIN")
    if tools:
        path.append(tools)
    env.update(
        MONGODB_URI=uri,
        MONGODB_URI_2=uri_2,
        ENV=db_name,
        ANALYTIQ_DB_LOG=str(workdir / "analytiq-db.log"),
        PATH=os.pathsep.join([*path, env.get("PATH", "")]),
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="100",
        HOME=str(workdir / "home"),
    )
    (workdir / "home").mkdir(exist_ok=True)
    return env


def needs_mongo_tools(path: Path) -> bool:
    """Return whether a page's console examples run mongodump, mongorestore or bsondump."""
    try:
        return any(b.language == "console" and _TOOLS.search(b.text) for b in page_blocks(path))
    except ExampleError:
        return False  # the page fails its own test, saying why


def expected_status(block: Block, commands: list[Command], index: int) -> int:
    """Return the exit status command ``index`` must have: 0, or what a following ``$ echo $?`` shows."""
    following = commands[index + 1] if index + 1 < len(commands) else None
    if following is None or following.text.strip() != "echo $?":
        return 0
    shown = [line for line in following.shown if line.strip()]
    if len(shown) != 1 or not shown[0].strip().isdigit():
        raise ExampleError(f"{block.where}: '$ echo $?' at line {following.line} must show one number, the exit code")
    return int(shown[0])


def console_script(commands: list[Command], expected: list[int], status_file: Path, env_file: Path) -> str:
    """Return the bash script running ``commands``, marking each one's output and recording its status."""
    lines = ["exec 2>&1", "__s=0"]
    for index, command in enumerate(commands):
        lines += [
            f"printf '{MARK}%d\\n' {index}",
            '(exit "$__s")',  # $? is the previous command's status, for `echo $?`
            command.text,
            "__s=$?",
            f"printf '%d %d\\n' {index} \"$__s\" >> '{status_file}'",
            f'if [ "$__s" -ne {expected[index]} ]; then env -0 > \'{env_file}\'; exit 0; fi',
        ]
    lines.append(f"env -0 > '{env_file}'")
    return "\n".join(lines) + "\n"


def split_output(stdout: str) -> dict[int, list[str]]:
    """Return each command's output lines, from the marks the script printed before each command."""
    found: dict[int, list[str]] = {}
    current: int | None = None
    for line in _ANSI.sub("", stdout).split("\n"):  # not splitlines(): it splits at the mark too
        if line.startswith(MARK) and line[1:].isdigit():
            current = int(line[1:])
            found[current] = []
        elif current is not None:
            found[current].append(line)
    for lines in found.values():
        while lines and not lines[-1].strip():
            lines.pop()
    return found


def run_console(block: Block, state: PageState) -> None:
    """Run a console block in bash; AssertionError naming the command whose status or output is wrong."""
    commands = console_commands(block)
    expected = [expected_status(block, commands, i) for i in range(len(commands))]
    status_file, env_file, script = (state.scratch / name for name in ("status", "env", "block.sh"))
    status_file.unlink(missing_ok=True)
    script.write_text(console_script(commands, expected, status_file, env_file))
    try:
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", str(script)],
            stdin=subprocess.DEVNULL,
            cwd=state.cwd,
            env=state.env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{block.where}: the block did not finish within {BLOCK_TIMEOUT_S:.0f} s") from exc
    recorded = status_file.read_text().splitlines() if status_file.exists() else []
    statuses = {int(i): int(s) for i, s in (line.split() for line in recorded)}
    outputs = split_output(done.stdout)
    _restore_shell_state(state, env_file)
    for index, command in enumerate(commands):
        output = outputs.get(index, [])
        if index not in statuses:
            raise AssertionError(f"{block.where}: line {command.line}: `{command.text}` never finished:\n{done.stdout}")
        if statuses[index] != expected[index]:
            raise AssertionError(
                f"{block.where}: line {command.line}: `{command.text}` exited {statuses[index]}, "
                f"expected {expected[index]}; its output:\n" + "\n".join(output)
            )
        if block.check_output and not output_matches(list(command.shown), output):
            raise AssertionError(
                f"{block.where}: line {command.line}: `{command.text}` printed:\n"
                + "\n".join(output)
                + "\n--- but the page shows:\n"
                + "\n".join(command.shown)
            )


def _restore_shell_state(state: PageState, env_file: Path) -> None:
    """Keep the shell's exported variables and working directory for the page's next blocks."""
    if not env_file.exists():
        return
    pairs = [item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item]
    env_file.unlink()
    state.env = {k: v for k, v in pairs if k not in ("_", "SHLVL", "OLDPWD")}
    cwd = Path(state.env.get("PWD", str(state.cwd)))
    if cwd.is_dir():
        state.cwd = cwd


@contextmanager
def python_context(state: PageState) -> Iterator[None]:
    """Run Python as the shell would: the page's environment, working directory, and that directory on sys.path."""
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(state.env)
    os.chdir(state.cwd)
    sys.path.insert(0, str(state.cwd))
    try:
        yield
    finally:
        sys.path.remove(str(state.cwd))
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


async def run_python(block: Block, state: PageState) -> None:
    """Run a python block in the page's namespace (top-level ``await`` allowed); tracebacks name the .md line."""
    source = "\n" * block.line + block.text  # line numbers in tracebacks are the page's
    code = compile(source, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    with python_context(state):
        result = eval(code, state.namespace)
        if inspect.iscoroutine(result):
            await result


def write_file(block: Block, state: PageState) -> None:
    """Write a ``file PATH`` block into the page's working directory (parents created)."""
    target = (state.cwd / (block.file_target or "")).resolve()
    if state.cwd.resolve() not in target.parents:
        raise ExampleError(f"{block.where}: <!-- example: file {block.file_target} --> leaves the working directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(block.text)


async def run_page(path: Path, state: PageState) -> int:
    """Run every example of a page in order; return how many blocks ran or were written."""
    count = 0
    for block in page_blocks(path):
        if block.file_target is not None:
            write_file(block, state)
        elif block.language == "console":
            run_console(block, state)
        else:
            await run_python(block, state)
        count += 1
    return count


async def close_clients(namespace: dict[str, Any]) -> None:
    """Close the clients an example left open (PyMongo, motor, the Analytiq client)."""
    for value in list(namespace.values()):
        close = getattr(value, "close", None)
        if close is None or inspect.isclass(value) or inspect.ismodule(value):
            continue
        if type(value).__name__ not in ("AsyncMongoClient", "MongoClient", "AnalytiqClient", "AsyncIOMotorClient"):
            continue
        result = close()
        if inspect.isawaitable(result):
            await result


def forget_modules(workdir: Path) -> None:
    """Drop modules imported from ``workdir`` so another page's module of the same name is imported afresh."""
    root = str(workdir.resolve())
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(root):
            del sys.modules[name]


def database_names(uri: str) -> set[str]:
    """Return the names of the databases on a server."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        return set(client.list_database_names())


def drop_new_databases(uri: str, before: set[str]) -> None:
    """Drop the databases an example created on a server (those not there before the page ran)."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        for name in set(client.list_database_names()) - before:
            client.drop_database(name)
