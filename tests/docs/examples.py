"""The documentation's examples, found and run: every ```console and ```python block of docs/ and README.md.

The conventions (docs/how-to/write-docs.md says the same, for writers):

- A ```console block: each line starting with ``$ `` is a command (a line ending with ``\\`` continues
  on the next; a heredoc ``<<'EOF'`` takes the lines up to ``EOF``); the other lines are its output.
  A block runs in bash, in the page's working directory, and every command must exit 0, except the
  one just before ``$ echo $?``, whose shown output is then the exit code it must have.
- Output is compared only under ``<!-- example: check output -->``: then the shown output must be
  the output, line for line (stdout and stderr together), where ``...`` in a line stands for any
  text and a line of only ``...`` for any number of lines.
- A ```python block runs in the page's namespace (shared by the page's python blocks, in order);
  top-level ``await`` works.
- ``<!-- example: file PATH -->`` before a block (any language) writes the block to PATH in the
  page's working directory instead of running it (a module, a pyproject.toml, ...).
- ``<!-- example: not run (why) -->`` leaves a block out, saying why; ``<!-- example: needs real
  cluster -->`` leaves out a block that needs a sharded cluster or a real replica set;
  ``<!-- example: tested by tests/PATH.py -->`` leaves out a block a test of its own runs (the file must exist).
- ```bash, ```sh and ```shell blocks are not allowed in docs/ or the README (write ```console with ``$ ``), unless
  marked not run.

All blocks of a page run in document order, in one temporary working directory, with MONGODB_URI
and MONGODB_URI_2 naming the two test servers, ENV (the database name) a fresh database, and the
log under the working directory. A URI naming any host but this machine is refused: examples talk
only to the test servers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

RUN_LANGUAGES = frozenset({"console", "python", "py"})
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "zsh", "shell-session"})
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")
_DIRECTIVE = re.compile(r"^[ \t]*<!--\s*example:\s*(?P<what>.*?)\s*-->[ \t]*$")
_URI = re.compile(r"mongodb(?:\+srv)?://(?P<rest>[^\s'\"`)<>]*)")
_LOCAL_HOSTS = re.compile(r"^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$")


class ExampleError(Exception):
    """A block that breaks the conventions (the message names the file and line, and the fix)."""


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown file and the ``<!-- example: ... -->`` directives just above it."""

    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    directives: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """Return ``docs/page.md:LINE`` for messages."""
        try:
            shown = self.path.relative_to(ROOT)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        """Return why the block is not run (``not run (why)`` or ``needs real cluster``), or None."""
        for directive in self.directives:
            if directive.startswith("not run"):
                return directive
            if directive.startswith(("needs real cluster", "tested by ")):
                return directive
        return None

    @property
    def file_target(self) -> str | None:
        """Return the PATH of ``file PATH``, or None."""
        for directive in self.directives:
            if directive.startswith("file "):
                return directive.removeprefix("file ").strip()
        return None

    @property
    def check_output(self) -> bool:
        """Return whether the block's shown output is compared with the real output."""
        return "check output" in self.directives


def fenced_blocks(path: Path, text: str | None = None) -> list[Block]:
    """Return every fenced block of a Markdown file, with its directives (CommonMark fence rules)."""
    lines = (path.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [line[indent:] if line[:indent].strip() == "" else line.lstrip() for line in lines[index + 1 : end]]
        language = (opening["info"].split() or [""])[0].lstrip("{.").rstrip("}").lower()
        blocks.append(Block(path, index + 1, language, "\n".join(body) + "\n", _directives_above(lines, index)))
        index = end + 1
    return blocks


def _directives_above(lines: list[str], fence_index: int) -> tuple[str, ...]:
    """Return the ``<!-- example: ... -->`` lines just above a fence (blank lines between are allowed)."""
    found: list[str] = []
    index = fence_index - 1
    while index >= 0:
        if not lines[index].strip():
            index -= 1
            continue
        match = _DIRECTIVE.match(lines[index])
        if match is None:
            break
        found.insert(0, match["what"])
        index -= 1
    return tuple(found)


KNOWN_DIRECTIVES = re.compile(
    r"^(not run \(.+\)|needs real cluster( \(.+\))?|tested by tests/\S+\.py|check output|file \S+)$"
)


def check_block(block: Block, *, in_docs: bool) -> None:
    """Raise ExampleError if the block breaks a convention (unknown directive, a bash block, a foreign host)."""
    for directive in block.directives:
        if not KNOWN_DIRECTIVES.match(directive):
            raise ExampleError(
                f"{block.where}: unknown directive <!-- example: {directive} -->; known: not run (why), "
                "needs real cluster, tested by tests/PATH.py, check output, file PATH"
            )
        tested_by = directive.removeprefix("tested by ")
        if tested_by != directive and not (ROOT / tested_by).is_file():
            raise ExampleError(f"{block.where}: <!-- example: {directive} -->: there is no {tested_by}")
    if block.skip_reason is not None or block.file_target is not None:
        return
    if in_docs and block.language in SHELL_LANGUAGES:
        raise ExampleError(
            f"{block.where}: a ```{block.language} block: write shell examples as ```console with '$ ' before "
            "each command, or mark it <!-- example: not run (why) -->"
        )
    if block.language in RUN_LANGUAGES:
        code = block.text
        if block.language == "console":  # the commands, not the output they show
            code = "\n".join(c.text for c in console_commands(block))
        for host in foreign_hosts(code):
            raise ExampleError(
                f"{block.where}: the example connects to {host}, but examples run only against the test servers: "
                "use $MONGODB_URI / $MONGODB_URI_2, or mark it <!-- example: not run (why) -->"
            )


def foreign_hosts(text: str) -> list[str]:
    """Return the hosts of the MongoDB URIs in ``text`` that are not this machine (``$VAR`` hosts are fine)."""
    found = []
    for match in _URI.finditer(text):
        hosts = match["rest"].split("@")[-1].split("/")[0].split("?")[0]
        for host in hosts.split(","):
            name = re.sub(r":\d*$", "", host) if not host.startswith("[") else host.split("]")[0] + "]"
            placeholder = any(mark in name for mark in ("$", "{", "..."))
            if name and not placeholder and not _LOCAL_HOSTS.match(name):
                found.append(name)
    return found


@dataclass(frozen=True)
class Command:
    """One ``$ `` command of a console block, the output shown under it, and its line in the file."""

    line: int
    text: str
    shown: tuple[str, ...] = field(default=())


def console_commands(block: Block) -> list[Command]:
    """Return the commands of a console block with the output each shows; ExampleError on output before any."""
    commands: list[Command] = []
    lines = block.text.splitlines()
    index = 0
    while index < len(lines):
        raw = lines[index]
        if not raw.startswith("$ "):
            if not commands:
                if raw.strip():
                    raise ExampleError(f"{block.where}: output before any '$ ' command: {raw!r}")
                index += 1
                continue
            last = commands[-1]
            commands[-1] = Command(last.line, last.text, (*last.shown, raw))
            index += 1
            continue
        start = index
        text = raw[2:]
        while text.endswith("\\") and index + 1 < len(lines):
            index += 1
            text = text + "\n" + lines[index]
        heredoc = re.search(r"<<-?\s*(['\"]?)(\w+)\1", text)
        if heredoc:
            while index + 1 < len(lines):
                index += 1
                text = text + "\n" + lines[index]
                if lines[index].strip() == heredoc[2]:
                    break
        commands.append(Command(block.line + 1 + start, text))
        index += 1
    return commands


def output_matches(shown: list[str], actual: list[str]) -> bool:
    """Return whether ``actual`` lines are ``shown`` (``...`` any text in a line; a line ``...``: any lines)."""
    if not shown:
        return not actual
    head, rest = shown[0].rstrip(), shown[1:]
    if head.strip() == "...":
        return any(output_matches(rest, actual[skip:]) for skip in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("..."))
    return re.fullmatch(pattern, actual[0].rstrip()) is not None and output_matches(rest, actual[1:])


README = ROOT / "README.md"


def documentation_files() -> list[Path]:
    """Return the Markdown files whose examples run: README.md, the landing page, and docs/**/*.md
    (figures aside)."""
    return [README, *sorted(p for p in DOCS.rglob("*.md") if "figures" not in p.relative_to(DOCS).parts)]


def page_blocks(path: Path) -> Iterator[Block]:
    """Yield the blocks of a page that the runner acts on (run, or written as a file), conventions checked."""
    in_docs = DOCS in path.parents or path == README  # the README is a page too: no ```bash there either
    for block in fenced_blocks(path):
        check_block(block, in_docs=in_docs)
        if block.skip_reason is None and (block.file_target is not None or block.language in RUN_LANGUAGES):
            yield block


def inventory() -> list[str]:
    """Return one line per page: blocks run, files written, blocks left out (with why)."""
    lines = []
    for path in documentation_files():
        blocks = fenced_blocks(path)
        ran = sum(1 for b in blocks if b.skip_reason is None and b.file_target is None and b.language in RUN_LANGUAGES)
        files = sum(1 for b in blocks if b.skip_reason is None and b.file_target is not None)
        out = [b.skip_reason for b in blocks if b.skip_reason is not None]
        line = f"{path.relative_to(ROOT)}: {ran} run, {files} written as files, {len(out)} left out"
        lines.append(line + "".join(f"\n    {why}" for why in out))
    return lines


if __name__ == "__main__":
    print("\n".join(inventory()))
