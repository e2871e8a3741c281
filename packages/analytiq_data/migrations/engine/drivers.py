"""Which kind of database a list's steps are written for: PyMongo's ``AsyncDatabase`` or motor's.

A step written for motor builds ``motor.motor_asyncio.AsyncIOMotorGridFSBucket(db)``, which accepts
only a motor database; a step written for PyMongo builds ``gridfs.AsyncGridFSBucket(db)``, which
accepts only PyMongo's. Plain collection calls work on either. When an application hands the
engine its client, the steps get a database of that client's kind. Where no application client
exists (the command line), the kind is declared (``driver = "pymongo" | "motor"``) or detected
here: a list is written for motor when a module defining one of its classes, or the module
holding the list, imports motor (``import motor…`` / ``from motor… import …``, at any depth of the
module's code). The engine never imports motor unless steps are to get motor's database; motor
is not a dependency of this package.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from analytiq_data.errors import ConfigurationError

StepsDriver = Literal["auto", "pymongo", "motor"]
INSTALL_HINT = "install it (pip install motor)"
DETECTED_PYMONGO = "detected: no module of the list imports motor"


def _imports_motor(module: ModuleType) -> bool:
    """Return whether ``module``'s source imports motor (its globals, when no source can be read)."""
    path = getattr(module, "__file__", None)
    if path and path.endswith(".py"):
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            tree = None
        if tree is not None:
            for node in ast.walk(tree):
                if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "motor" for a in node.names):
                    return True
                if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "motor":
                    return True
            return False
    return any(
        str(getattr(value, "__name__", "") if isinstance(value, ModuleType) else getattr(value, "__module__", ""))
        .split(".")[0]
        == "motor"
        for value in vars(module).values()
    )


def declared(migrations: Sequence[Any]) -> tuple[Literal["pymongo", "motor"], str] | None:
    """Return the kind of database the list's classes declare (``database_kind``) and why, or None when
    none declares one; ConfigurationError when two classes declare different kinds (one run gives
    every step the same kind of database)."""
    kinds: dict[str, str] = {}
    for migration in migrations:
        kind = getattr(type(migration), "database_kind", None)
        if kind in ("pymongo", "motor"):
            kinds.setdefault(kind, type(migration).__name__)
    if len(kinds) > 1:
        raise ConfigurationError(
            f"the list mixes steps written for PyMongo ({kinds['pymongo']}) and for motor ({kinds['motor']})",
            hint="one run gives every step the same kind of database: declare one database_kind for the list",
        )
    for kind, name in kinds.items():
        return ("motor" if kind == "motor" else "pymongo"), f"declared: {name}.database_kind"
    return None


def detect(migrations: Sequence[Any], list_module: str | None = None) -> tuple[Literal["pymongo", "motor"], str]:
    """Return the kind of database ``migrations`` are written for, and why: what their classes declare
    (``database_kind``), else ``("motor", "detected: M imports motor")`` when the module holding the
    list or a module defining one of its classes imports motor, else ``("pymongo", "detected: no module
    of the list imports motor")``."""
    stated = declared(migrations)
    if stated is not None:
        return stated
    names = [list_module] if list_module else []
    names += [type(m).__module__ for m in migrations]
    for name in dict.fromkeys(names):
        module = sys.modules.get(name)
        if module is not None and _imports_motor(module):
            return "motor", f"detected: {name} imports motor"
    return "pymongo", DETECTED_PYMONGO


def motor_client_class(source: str | None = None) -> Any:
    """Return motor's ``AsyncIOMotorClient``; ConfigurationError in one line when motor is not installed.

    ``source`` says who asked for motor (``--driver``, ``detected: …``) for the message.
    """
    try:
        module = importlib.import_module("motor.motor_asyncio")
    except ImportError as exc:
        why = f" ({source})" if source else ""
        raise ConfigurationError(
            f"the steps are to get a motor database{why}, but motor is not installed",
            hint=f'{INSTALL_HINT}, or declare driver = "pymongo"',
        ) from exc
    return module.AsyncIOMotorClient


def missing_motor(module_name: str, exc: ImportError) -> ConfigurationError | None:
    """Return the one-line error for a migrations module that imports motor where it is not installed."""
    missing = (getattr(exc, "name", None) or "").split(".")[0]
    if missing != "motor":
        return None
    return ConfigurationError(
        f"migrations module {module_name!r} imports motor, which is not installed",
        hint=f"{INSTALL_HINT}: the list's steps are written for motor's database",
    )
