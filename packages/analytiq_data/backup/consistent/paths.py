"""Update paths that ``$set``/``$unset`` cannot address, replayed as pipeline updates (pure code).

An update event names what changed by dotted path (``updatedFields``, ``removedFields``,
``truncatedArrays``). A field name may itself hold a dot (``"price.usd"``) or be a number inside a
document (``{"a": {"1": …}}``): mongod 6.1+ then adds ``disambiguatedPaths``, each ambiguous path
with its components, field names as strings and array positions as integers
(``{"a.0.1": ["a", 0, "1"]}``; only with ``showExpandedEvents`` before 8.2). A field name starting
with ``$`` can be stored (inserts, pipeline updates) but not written by ``$set``/``$unset`` or a
replacement. Paths like these are replayed with one ``$replaceWith`` stage each, built from
``$getField``/``$setField`` (field names as ``$literal``), ``$concatArrays``/``$slice`` for array
positions and ``$literal`` values, which address any field name.

Without ``disambiguatedPaths`` (servers before 6.1; SecantusDB), a dotted path is read as mongod's
update operators read it: one component per dot, a numeric component an array position when the
value there is an array and a field name otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Part = str | int
Path = tuple[Part, ...]
Expr = Any


def split_path(path: str, disambiguated: Mapping[str, Sequence[Any]] | None = None) -> Path:
    """Return the components of an update path: from ``disambiguatedPaths`` if there, else split at dots."""
    known = (disambiguated or {}).get(path)
    if known is not None:
        return tuple(p if isinstance(p, int) and not isinstance(p, bool) else str(p) for p in known)
    return tuple(path.split("."))


def plain(parts: Path) -> bool:
    """Return whether ``$set``/``$unset`` with the dotted path address exactly these components."""
    return all(isinstance(p, int) or (p and "." not in p and not p.startswith("$")) for p in parts)


def special_keys(value: Any) -> bool:
    """Return whether a value holds a field name starting with ``$`` or holding a dot, at any depth."""
    if isinstance(value, Mapping):
        return any(str(k).startswith("$") or "." in str(k) or special_keys(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(special_keys(v) for v in value)
    return False


def dotted(parts: Path) -> str:
    """Return the dotted path of components ``plain`` accepted."""
    return ".".join(str(p) for p in parts)


def _index(part: Part) -> int | None:
    if isinstance(part, int):
        return part
    return int(part) if part.isdigit() else None


def _get(node: Expr, part: Part) -> Expr:
    field = {"$getField": {"field": {"$literal": str(part)}, "input": node}}
    if isinstance(part, int):
        return {"$arrayElemAt": [node, part]}
    at = _index(part)
    return field if at is None else {"$cond": [{"$isArray": node}, {"$arrayElemAt": [node, at]}, field]}


def _put_field(node: Expr, name: str, value: Expr) -> Expr:
    """Return document ``node`` (an empty one if missing or null) with field ``name`` set (``$$REMOVE``: removed)."""
    return {"$setField": {"field": {"$literal": name}, "input": {"$ifNull": [node, {}]}, "value": value}}


def _put_index(node: Expr, at: int, value: Expr) -> Expr:
    """Return array ``node`` with position ``at`` set, padded with nulls up to it as ``$set`` pads."""
    size = {"$size": node}
    return {
        "$concatArrays": [
            {"$slice": [node, at]},
            {"$map": {"input": {"$range": [size, at]}, "in": None}},
            [value],
            {"$slice": [node, at + 1, {"$max": [size, 1]}]},
        ]
    }


def _put(node: Expr, part: Part, value: Expr, *, removing: bool = False) -> Expr:
    """Return ``node`` with ``part`` set to ``value``; removing, a field goes and an array position becomes null."""
    if isinstance(part, int):
        return _put_index(node, part, None if removing else value)
    field = _put_field(node, part, "$$REMOVE" if removing else value)
    at = _index(part)
    if at is None:
        return field
    return {"$cond": [{"$isArray": node}, _put_index(node, at, None if removing else value), field]}


def get_at(parts: Path, node: Expr = "$$ROOT") -> Expr:
    """Return the expression reading ``parts`` from ``node``."""
    for part in parts:
        node = _get(node, part)
    return node


def set_at(parts: Path, value: Expr, node: Expr = "$$ROOT", depth: int = 0) -> Expr:
    """Return the expression of ``node`` with the value at ``parts`` replaced by ``value`` (parents created)."""
    head = parts[0]
    if len(parts) == 1:
        return _put(node, head, value)
    var = f"n{depth}"
    inner = set_at(parts[1:], value, _get(f"$${var}", head), depth + 1)
    return {"$let": {"vars": {var: node}, "in": _put(f"$${var}", head, inner)}}


def unset_at(parts: Path, node: Expr = "$$ROOT", depth: int = 0) -> Expr:
    """Return the expression of ``node`` without the field at ``parts`` (an array position: null, as ``$unset``)."""
    head = parts[0]
    if len(parts) == 1:
        return _put(node, head, None, removing=True)
    var, child = f"n{depth}", f"c{depth}"
    inner = unset_at(parts[1:], f"$${child}", depth + 1)
    keep = {"$in": [{"$type": f"$${child}"}, ["object", "array"]]}
    descend = {"$let": {"vars": {child: _get(f"$${var}", head)}, "in": {"$cond": [keep, inner, f"$${child}"]}}}
    return {"$let": {"vars": {var: node}, "in": _put(f"$${var}", head, descend)}}


def set_stage(parts: Path, value: Any) -> dict[str, Any]:
    """Return the pipeline stage setting ``parts`` to the literal ``value``."""
    return {"$replaceWith": set_at(parts, {"$literal": value})}


def unset_stage(parts: Path) -> dict[str, Any]:
    """Return the pipeline stage removing ``parts``."""
    return {"$replaceWith": unset_at(parts)}


def truncate_stage(parts: Path, size: int) -> dict[str, Any]:
    """Return the pipeline stage cutting the array at ``parts`` to its first ``size`` elements."""
    return {"$replaceWith": set_at(parts, {"$slice": [get_at(parts), size]})}


def replace_stage(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return the pipeline stage making the document exactly ``document`` (any field names)."""
    return {"$replaceWith": {"$literal": document}}
