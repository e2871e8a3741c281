"""Whether the process that wrote a lease or heartbeat is gone: judged only when it ran beside this one.

The one test of liveness for every holder the tool records: the migration lock and the restore lock
(``migrations.engine.lock``), a backup's claim on its destination (``backup.claim``) and the
event-log follower's heartbeat (``backup.log.status``). Each records ``ProcessIdentity.record()``:
its holder's ``host`` and ``pid`` and, on Linux, what makes that pid mean one process: ``boot_id``
(``/proc/sys/kernel/random/boot_id``, new at every boot), ``pid_ns`` (the PID namespace, ``readlink
/proc/self/ns/pid``; each container has its own) and ``pid_start`` (field 22 of ``/proc/<pid>/stat``:
when the process started, in clock ticks since boot). A holder is judged **gone** only when its
host name, boot id and PID namespace are all this process's own — same machine, same boot, same PID
namespace, so its pid names the same process here — and ``/proc/<pid>`` is missing, is a zombie, or
started at another time (the pid was reused).

Everything else is *unknown*, never "gone": another host; a container that shares this host name
but not its kernel (other boot id) or its PID namespace; a document written by the original code
or on a system without ``/proc`` (macOS); a ``/proc`` that does not show this process's own PID
namespace. An unknown holder is waited out until its lease ends (a heartbeat: until it is stale).
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
_STARTTIME_FIELD = 22  # 1-based, in proc(5)


@dataclass(frozen=True)
class ProcessIdentity:
    """What names one process across hosts, containers and pid reuse (None: not known here)."""

    host: str
    pid: int
    boot_id: str | None
    pid_ns: str | None
    pid_start: int | None

    @property
    def judgeable(self) -> bool:
        """Whether this system can tell a process of this host gone (Linux with a usable ``/proc``)."""
        return self.boot_id is not None and self.pid_ns is not None and self.pid_start is not None

    def fields(self) -> dict[str, Any]:
        """Return the fields that make the pid name one process (None where not known)."""
        return {"boot_id": self.boot_id, "pid_ns": self.pid_ns, "pid_start": self.pid_start}

    def record(self) -> dict[str, Any]:
        """Return what a holder's document records to name this process: ``host``, ``pid`` and ``fields()``."""
        return {"host": self.host, "pid": self.pid, **self.fields()}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def stat_of(pid: int, proc: Path = PROC) -> tuple[str, int] | None:
    """Return (state letter, start time in ticks) of process ``pid`` from ``/proc/<pid>/stat``, None if absent.

    The command name (field 2) is in parentheses and may hold spaces and ``)``: the fields after it
    are split from the last ``)``.
    """
    text = _read(proc / str(pid) / "stat")
    if not text or ")" not in text:
        return None
    rest = text.rsplit(")", 1)[1].split()
    try:
        return rest[0], int(rest[_STARTTIME_FIELD - 3])
    except (IndexError, ValueError):
        return None


def identity_of_this_process(proc: Path = PROC) -> ProcessIdentity:
    """Return this process's identity; the Linux fields are None when ``/proc`` cannot vouch for them."""
    host, pid = socket.gethostname(), os.getpid()
    boot_id = _read(proc / "sys" / "kernel" / "random" / "boot_id")
    try:
        pid_ns: str | None = os.readlink(proc / "self" / "ns" / "pid")
    except OSError:
        pid_ns = None
    own = stat_of(pid, proc)
    via_self = _read(proc / "self" / "stat")
    # /proc must show this PID namespace: our own pid found there, and the same process as /proc/self.
    if own is None or via_self is None or not via_self.startswith(f"{pid} "):
        return ProcessIdentity(host, pid, None, None, None)
    return ProcessIdentity(host, pid, boot_id or None, pid_ns, own[1])


@functools.cache
def _identity_of(pid: int) -> ProcessIdentity:
    return identity_of_this_process()


def this_process() -> ProcessIdentity:
    """Return this process's identity (read once per process; a forked child reads its own)."""
    return _identity_of(os.getpid())


def is_this_process(doc: dict[str, Any], me: ProcessIdentity | None = None) -> bool:
    """Return whether ``doc`` names this very process (host, pid, boot id, PID namespace and start time);
    False whenever that cannot be known (no usable ``/proc``): a host name and a pid alone may be another
    container's."""
    me = me or this_process()
    named = tuple(doc.get(k) for k in ("host", "pid", "boot_id", "pid_ns", "pid_start"))
    return me.judgeable and named == (me.host, me.pid, me.boot_id, me.pid_ns, me.pid_start)


def holder_gone(doc: dict[str, Any], me: ProcessIdentity | None = None, proc: Path = PROC) -> bool:
    """Return whether the process a lock document names is known to be gone (see the module's docstring).

    ``me`` (default: this process) is the identity it is judged against; any doubt answers False.
    """
    me = me or this_process()
    pid, start = doc.get("pid"), doc.get("pid_start")
    if not me.judgeable or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if not isinstance(start, int) or isinstance(start, bool):
        return False
    if (doc.get("host"), doc.get("boot_id"), doc.get("pid_ns")) != (me.host, me.boot_id, me.pid_ns):
        return False
    found = stat_of(pid, proc)
    if found is None:
        return _no_such_process(pid)
    state, started = found
    return state in ("Z", "X", "x") or started != start


def _no_such_process(pid: int) -> bool:
    """Return whether no process ``pid`` exists in this PID namespace (``/proc`` may hide other users'
    processes: ``hidepid``); signal 0 asks the kernel without sending anything."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, owned by another user
        return False
    return False
