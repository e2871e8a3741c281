"""Making a log directory whole again after a crash, before following resumes (or refusing if it is damaged).

See "Restart" in ``docs/reference/event-log-format.md``: temporary files are removed; a closed
segment the catalog does not name yet (the crash fell between its rename and the catalog update)
is checked and entered; an ``.open`` segment is cut at its last whole record and closed.
"""

from __future__ import annotations

import gzip as gzip_module
import logging
import os
import re
from pathlib import Path

from analytiq_data.backup.log.catalog import BASES, SEGMENTS, Catalog
from analytiq_data.backup.log.segment import (
    LogDamaged,
    entry_of,
    fsync_path,
    parse,
    read_file,
    segment_name,
    write_durably,
)

log = logging.getLogger(__name__)
_SEGMENT = re.compile(r"^seg-(\d+)\.(log|log\.gz|open)$")


def recover(catalog: Catalog, *, compress: bool) -> list[str]:
    """Clean up after an interrupted run and return what was done, one phrase each (LogDamaged if it cannot)."""
    done: list[str] = []
    folder = catalog.folder
    segdir = folder / SEGMENTS
    segdir.mkdir(parents=True, exist_ok=True)
    for leftover in [*folder.glob("*.tmp"), *segdir.glob("*.tmp"), *(folder / BASES).glob("*.partial")]:
        leftover.unlink()
        done.append(f"removed the leftover {leftover.name}")
    known = {int(s["seq"]) for s in catalog.segments}
    files = sorted((int(m.group(1)), m.group(2), p) for p in segdir.iterdir() if (m := _SEGMENT.match(p.name)))
    for seq, kind, path in files:
        if kind == "open":
            continue
        if seq in known:
            continue
        if seq != catalog.next_seq:
            raise LogDamaged(
                f"segment {path} is not in the catalog and does not follow its last segment",
                hint="the log directory was changed by hand; restore from it with analytiq-db log ranges first",
            )
        data = path.read_bytes()
        content = parse(read_file(path), str(path))
        if content.torn:
            raise LogDamaged(f"segment {path} is damaged: {content.torn}", hint="the file is damaged")
        catalog.add_segment(entry_of(content, seq, path, data))
        known.add(seq)
        done.append(f"entered the closed segment {path.name} into the catalog")
    for seq, kind, path in files:
        if kind == "open":
            done += _close_open(catalog, seq, path, known, compress)
    return done


def _close_open(catalog: Catalog, seq: int, path: Path, known: set[int], compress: bool) -> list[str]:
    """Cut an open segment at its last whole record and close it (or remove it: catalogued already, or empty)."""
    if seq in known:
        path.unlink()
        fsync_path(path.parent)
        return [f"removed {path.name} (already closed)"]
    if seq != catalog.next_seq:
        raise LogDamaged(f"open segment {path} does not follow the catalog's last segment", hint="check the directory")
    data = path.read_bytes()
    try:
        content = parse(data, str(path))
    except LogDamaged:
        path.unlink()  # torn before its header was durable: it held nothing
        fsync_path(path.parent)
        return [f"removed {path.name} (torn before its first record)"]
    said = []
    if content.end < len(data):
        with open(path, "r+b") as out:
            out.truncate(content.end)
            out.flush()
            os.fsync(out.fileno())
        said.append(f"cut the torn tail of {path.name} ({len(data) - content.end} bytes: {content.torn})")
        log.warning("cut %s at byte %d: %s", path, content.end, content.torn)
        data = data[: content.end]
    if not content.events and content.covered == content.after.at:
        path.unlink()
        fsync_path(path.parent)
        return [*said, f"removed the empty {path.name}"]
    final = path.with_name(segment_name(seq, gzip_=compress))
    if compress:
        write_durably(final, gzip_module.compress(data, compresslevel=6))
    else:
        os.replace(path, final)
        fsync_path(path.parent)
    catalog.add_segment(entry_of(content, seq, final, final.read_bytes()))
    if compress:
        path.unlink()
        fsync_path(path.parent)
    known.add(seq)
    return [*said, f"closed {final.name} ({len(content.events)} events)"]
