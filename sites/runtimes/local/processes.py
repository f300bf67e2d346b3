"""Finding processes by parent or by process group, from /proc (no extra dependency)."""

from pathlib import Path

# Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ...
_PARENT, _GROUP = 1, 2


def _where(field: int, value: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[field]) == value:
            found.add(int(stat.parent.name))
    return found


def children(pid: int) -> set[int]:
    return _where(_PARENT, pid)


def group_members(pgid: int) -> set[int]:
    return _where(_GROUP, pgid)
