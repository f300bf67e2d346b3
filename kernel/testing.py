"""Helpers for tests: waiting for evidence, never for a fixed time."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout: float = 30.0, what: str = "the condition", every: float = 0.05) -> T:
    """Call `check` until it returns something true, and return that; fail after `timeout` seconds.

    An exception from `check` counts as "not yet" (a server still restarting, a row not there yet)
    until the deadline, when the last one is raised with `what` in the message.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - "not yet", reported if it lasts
            last_error, result = exc, None
        else:
            last_error = None
        if result:
            return result
        if time.monotonic() > deadline:
            detail = f": {type(last_error).__name__}: {last_error}" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}") from last_error
        time.sleep(every)
