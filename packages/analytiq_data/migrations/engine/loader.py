"""Finding a migration list named ``package.module:ATTRIBUTE`` (the CLI's ``--migrations``)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.engine.drivers import missing_motor
from analytiq_data.migrations.engine.hooks import RunHooks
from analytiq_data.migrations.engine.plan import MigrationList, validate_migrations

SPEC_HINT = "give --migrations package.module:ATTRIBUTE, e.g. analytiq_data.migrations.migration:MIGRATIONS"


def split_spec(spec: str) -> tuple[str, str]:
    """Return ``(module, attribute)`` of ``module:attribute`` (attribute defaults to MIGRATIONS)."""
    module, _, attribute = spec.partition(":")
    if not module or not all(part.isidentifier() for part in module.split(".")):
        raise ConfigurationError(f"bad migrations name {spec!r}", hint=SPEC_HINT)
    attribute = attribute or "MIGRATIONS"
    if not attribute.isidentifier():
        raise ConfigurationError(f"bad attribute {attribute!r} in migrations name {spec!r}", hint=SPEC_HINT)
    return module, attribute


def import_module(name: str) -> ModuleType:
    """Import ``name`` (the working directory is searched too, as for ``python -m``)."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except ConfigurationError:
        raise
    except ImportError as exc:
        motor = missing_motor(name, exc)
        if motor is not None:
            raise motor from exc
        raise ConfigurationError(f"cannot import migrations module {name!r}: {exc}", hint=SPEC_HINT) from exc
    except SyntaxError as exc:
        where = f"{Path(exc.filename).name}, line {exc.lineno}" if exc.filename else f"line {exc.lineno}"
        raise ConfigurationError(
            f"migrations module {name!r} has a syntax error: {exc.msg} ({where})", hint="fix the module"
        ) from exc
    except Exception as exc:  # the user's module raised while being imported
        raise ConfigurationError(
            f"migrations module {name!r} raised {type(exc).__name__} when imported: {exc}",
            hint="fix the module (run with --traceback to see where)",
        ) from exc


def load_migrations(spec: str) -> MigrationList:
    """Import the list named by ``spec`` and check it (Migration instances, stated versions = positions)."""
    module_name, attribute = split_spec(spec)
    module = import_module(module_name)
    if not hasattr(module, attribute):
        raise ConfigurationError(f"module {module_name!r} has no attribute {attribute!r}", hint=SPEC_HINT)
    value = getattr(module, attribute)
    if not isinstance(value, list | tuple):
        raise ConfigurationError(
            f"{module_name}:{attribute} is a {type(value).__name__}, not a list of migrations", hint=SPEC_HINT
        )
    return validate_migrations(value)


def load_hooks(spec: str) -> RunHooks:
    """Import the RunHooks object named by ``spec`` (``package.module:ATTRIBUTE``; the CLI's ``--hooks``)."""
    hint = "give --hooks package.module:ATTRIBUTE naming a RunHooks(before=..., after=...) object"
    if not spec.partition(":")[2]:
        raise ConfigurationError(f"bad hooks name {spec!r}: no attribute", hint=hint)
    module_name, attribute = split_spec(spec)
    value = getattr(import_module(module_name), attribute, None)
    if not isinstance(value, RunHooks):
        found = "nothing" if value is None else f"a {type(value).__name__}"
        raise ConfigurationError(f"{module_name}:{attribute} is {found}, not a RunHooks object", hint=hint)
    return value


def module_path(spec: str) -> Path:
    """Return the source file of the module named by ``spec``."""
    module_name, _ = split_spec(spec)
    module = import_module(module_name)
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        raise ConfigurationError(f"module {module_name!r} has no Python source file", hint=SPEC_HINT)
    return Path(path)
