"""Drawing a restore's outcome, shared by ``restore --from`` (``safety_cmds``) and ``restore --archive/--dir``
(``restore_files_cmds``): it sits below both, so neither imports the other."""

from __future__ import annotations

from analytiq_data.cli.render import print_json
from analytiq_data.safety.results import RestoreResult


def render_restore(result: RestoreResult, as_json: bool) -> None:
    """Print what was restored."""
    if as_json:
        print_json(result.to_json())
        return
    dropped = f"; dropped {', '.join(result.dropped)}" if result.dropped else ""
    version = f" at version {result.version}" if result.version is not None else ""
    views = f", {_count(len(result.views), 'view')}" if result.views else ""
    print(
        f"restored database {result.database} from backup {result.backup}{version}: "
        f"{_count(len(result.collections), 'collection')}, {_count(result.documents, 'document')}{views}{dropped}; "
        f"{result.outcome()} ({result.seconds:.1f}s)"
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''}"
