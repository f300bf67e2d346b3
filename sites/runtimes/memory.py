"""A runtime that keeps each site's pieces in this process's memory. It implements the Runtime
protocol fully, so the pipeline's own logic (order, retries, handles, takeovers, concurrency) can be
tested in milliseconds, beside the real local runtime's tests. Tests steer it through `script`."""

import threading
from collections import defaultdict
from dataclasses import dataclass, field

from sites.spec import Done, Pending, SiteSpec, StepError, StepResult


@dataclass
class Script:
    """What the runtime will do, set by a test: fail a step some times, answer Pending, stop dead."""

    failures: dict[str, int] = field(default_factory=dict)  # step -> how many more ensures fail
    pending: dict[str, int] = field(default_factory=dict)  # step -> how many more ensures answer Pending
    die_at: str | None = None  # a step where the worker "dies" (a BaseException the pipeline cannot catch)
    hold: dict[str, threading.Event] = field(default_factory=dict)  # step -> waits until set


class WorkerDied(BaseException):
    """Stands for a SIGKILL: nothing after it in the worker runs, not even `except Exception`."""


script = Script()
pieces: dict[str, set[str]] = defaultdict(set)  # site key -> steps whose piece exists
calls: list[tuple[str, str, str, str | None]] = []  # (site key, action, step, handle), in order
_lock = threading.Lock()
running: dict[str, int] = defaultdict(int)  # site key -> steps in progress right now
most_at_once: dict[str, int] = defaultdict(int)


def reset() -> None:
    script.__init__()  # type: ignore[misc]  # back to a blank script, the same object every importer holds
    pieces.clear()
    calls.clear()
    running.clear()
    most_at_once.clear()


class MemoryRuntime:
    name = "memory"

    def ensure(self, step: str, spec: SiteSpec, handle: str | None) -> StepResult:
        with _lock:
            calls.append((spec.key, "ensure", step, handle))
            running[spec.key] += 1
            most_at_once[spec.key] = max(most_at_once[spec.key], running[spec.key])
        try:
            if step in script.hold:
                script.hold[step].wait(timeout=30)
            if script.die_at == step:
                script.die_at = None
                raise WorkerDied(step)
            if script.failures.get(step, 0) > 0:
                script.failures[step] -= 1
                raise StepError(f"{step} failed on purpose")
            if script.pending.get(step, 0) > 0:
                script.pending[step] -= 1
                return Pending(handle=f"{step}-operation-{len(calls)}", detail=f"{step} started", poll_after_seconds=0)
            pieces[spec.key].add(step)
            return Done(f"{step} in memory{' (suspended)' if spec.suspended and step == 'server' else ''}")
        finally:
            with _lock:
                running[spec.key] -= 1

    def remove(self, step: str, spec: SiteSpec, handle: str | None) -> None:
        with _lock:
            calls.append((spec.key, "remove", step, None))
        pieces[spec.key].discard(step)

    def status(self, step: str, spec: SiteSpec) -> bool:
        return step in pieces[spec.key] or step in ("install", "health")

    def wordpress_version(self, spec: SiteSpec) -> str:
        return "6.1-memory"

    def public_records(self, spec: SiteSpec) -> list[tuple[str, str]]:
        return [("A", "192.0.2.10")]  # TEST-NET-1: an address that reaches nothing

    def check(self) -> str:
        return f"in this process's memory, {len(pieces)} sites"
