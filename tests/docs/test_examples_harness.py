"""The example runner itself: it finds the blocks the conventions name, and fails a page that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.examples import (
    ExampleError,
    check_block,
    console_commands,
    fenced_blocks,
    foreign_hosts,
    output_matches,
    page_blocks,
)
from tests.docs.runner import PageState, close_clients, example_environment, forget_modules, run_page

F = "```"


def page(tmp_path: Path, text: str) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    path = docs / "page.md"
    path.write_text(text)
    return path


def test_blocks_with_their_directives_and_lines(tmp_path: Path) -> None:
    text = (
        "# T\n\n<!-- example: check output -->\n\n"
        f"{F}console\n$ echo hi\nhi\n{F}\n\n"
        f"````markdown\n{F}python\nnot a block of its own\n{F}\n````\n\n"
        f"1. a list item:\n\n    {F}python\n    x = 1\n    {F}\n"
    )
    blocks = fenced_blocks(tmp_path / "p.md", text)
    assert [(b.line, b.language, b.directives) for b in blocks] == [
        (5, "console", ("check output",)),
        (10, "markdown", ()),
        (18, "python", ()),
    ]
    assert blocks[2].text == "x = 1\n"


def test_console_commands_continuations_heredocs_and_output() -> None:
    text = (
        f"{F}console\n$ printf '%s\\n' a \\\n    b\na\nb\n$ cat > m.py <<'EOF'\nx = 1\n\n$ not a command\nEOF\n"
        f"$ echo $?\n0\n{F}\n"
    )
    (block,) = fenced_blocks(Path("p.md"), text)
    commands = console_commands(block)
    assert [c.text for c in commands] == [
        "printf '%s\\n' a \\\n    b",
        "cat > m.py <<'EOF'\nx = 1\n\n$ not a command\nEOF",
        "echo $?",
    ]
    assert [c.shown for c in commands] == [("a", "b"), (), ("0",)]
    assert [c.line for c in commands] == [2, 6, 11]


def test_output_matching_with_ellipses() -> None:
    assert output_matches(["applied 2 steps in ... s"], ["applied 2 steps in 0.31 s"])
    assert not output_matches(["applied 2 steps"], ["applied 3 steps"])
    assert output_matches(["first", "...", "last"], ["first", "a", "b", "last"])
    assert output_matches(["first", "...", "last"], ["first", "last"])
    assert not output_matches(["first"], ["first", "more"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"<!-- example: skip -->\n{F}python\nx\n{F}\n", "unknown directive"),
        (f"{F}bash\nanalytiq-db up\n{F}\n", "write shell examples as ```console"),
        (f"{F}console\n$ analytiq-db ping --uri mongodb://u:p@db1.example.com:27017,db2/\n{F}\n", "db1.example.com"),
        (f"<!-- example: tested by tests/nowhere.py -->\n{F}python\nx\n{F}\n", "there is no tests/nowhere.py"),
    ],
)
def test_blocks_breaking_a_convention_are_refused(tmp_path: Path, text: str, message: str) -> None:
    (block,) = fenced_blocks(tmp_path / "docs" / "p.md", text)
    with pytest.raises(ExampleError, match=message.replace("(", r"\(").replace("*", r"\*")):
        check_block(block, in_docs=True)


def test_marked_blocks_are_left_out(tmp_path: Path) -> None:
    path = page(
        tmp_path,
        f"<!-- example: not run (illustrative) -->\n{F}bash\nanalytiq-db up\n{F}\n"
        f"<!-- example: needs real cluster -->\n{F}console\n$ analytiq-db ping --uri mongodb://shard1:27017\n{F}\n"
        f"{F}toml\n[tool.x]\n{F}\n",
    )
    assert list(page_blocks(path)) == []


def test_hosts_of_this_machine_and_variables_are_allowed() -> None:
    text = "mongodb://127.0.0.1:1/ mongodb://localhost mongodb://a:b@[::1]:27017 mongodb://$HOST/ mongodb://db9:1"
    assert foreign_hosts(text) == ["db9"]


async def run(tmp_path: Path, text: str, mongo_uri: str, mongo_uri_2: str, db_name: str) -> PageState:
    workdir, scratch = tmp_path / "work", tmp_path / "scratch"
    workdir.mkdir()
    scratch.mkdir()
    state = PageState(workdir, example_environment(workdir, mongo_uri, mongo_uri_2, db_name), scratch)
    try:
        await run_page(page(tmp_path, text), state)
    finally:
        await close_clients(state.namespace)
        forget_modules(workdir)
    return state


GOOD_PAGE = f"""# A page

<!-- example: check output -->
{F}console
$ export GREETING=hello && mkdir -p app && cd app
$ echo "$GREETING from $(basename "$PWD")"
hello from ...
$ false
$ echo $?
1
$ cat
$ echo "stdin was not the script"
stdin was not the script
{F}

<!-- example: file shapes.py -->
{F}python
SIDES = {{"triangle": 3}}
{F}

{F}python
import os

from pymongo import AsyncMongoClient

import shapes

client = AsyncMongoClient(os.environ["MONGODB_URI"])
await client[os.environ["ENV"]].shapes.insert_one({{"_id": 1, "sides": shapes.SIDES["triangle"]}})
found = await client[os.environ["ENV"]].shapes.find_one()
assert found == {{"_id": 1, "sides": 3}}, found
{F}

<!-- example: check output -->
{F}console
$ echo "$GREETING again, in $(basename "$PWD")"
hello again, in app
$ analytiq-db ping --db "$ENV" >/dev/null 2>&1 && echo reachable
reachable
{F}
"""


async def test_a_page_runs_in_order_sharing_shell_and_python_state(
    tmp_path: Path, mongo_uri: str, mongo_uri_2: str, db_name: str
) -> None:
    state = await run(tmp_path, GOOD_PAGE, mongo_uri, mongo_uri_2, db_name)
    assert state.cwd.name == "app"
    assert state.namespace["found"] == {"_id": 1, "sides": 3}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{F}console\n$ echo one\n$ false\n$ echo never\n{F}\n", r"line 4: `false` exited 1, expected 0"),
        (f"{F}console\n$ exit 3\n$ echo $?\n2\n{F}\n", r"`exit 3` never finished|exited 3, expected 2"),
        (f"{F}console\n$ (exit 3)\n$ echo $?\n2\n{F}\n", r"`\(exit 3\)` exited 3, expected 2"),
        (f"<!-- example: check output -->\n{F}console\n$ echo 2 steps\n3 steps\n{F}\n", r"but the page shows"),
        (f"{F}python\nx = 1\nraise ValueError('wrong')\n{F}\n", r"wrong"),
    ],
)
async def test_a_wrong_example_fails_its_page(
    tmp_path: Path, mongo_uri: str, mongo_uri_2: str, db_name: str, body: str, message: str
) -> None:
    with pytest.raises((AssertionError, ValueError), match=message):
        await run(tmp_path, "# Page\n" + body, mongo_uri, mongo_uri_2, db_name)


async def test_a_python_failure_names_the_pages_line(
    tmp_path: Path, mongo_uri: str, mongo_uri_2: str, db_name: str
) -> None:
    with pytest.raises(NameError) as info:
        await run(tmp_path, f"# Page\n\n{F}python\nx = 1\nundefined_name\n{F}\n", mongo_uri, mongo_uri_2, db_name)
    frames = [(str(f.path), f.lineno + 1) for f in info.traceback]
    assert (str(tmp_path / "docs" / "page.md"), 5) in frames
