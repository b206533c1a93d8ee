"""Work counted, not timed: unit tests bound what the code does, never how many seconds it
takes on this host (throughput is measured by the benchmarks in bench/).

The measure is the number of lines of AASEE's own code Python runs (its ``line`` trace
events): the same for the same code and input on any host, at any load. A loop that spins, or
work that grows faster than its input, shows in it as surely as in a stopwatch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
PACKAGE = "aasee"


class TooMuchWork(BaseException):
    """Raised inside the measured code once it passed its limit: a BaseException, so that the
    code's own ``except Exception`` cannot swallow it and a runaway loop stops at once."""


def lines_run(call: Callable[[], T], limit: int | None = None) -> tuple[T, int]:
    """``call()``'s result and the number of lines of ``aasee`` code it ran in this thread;
    raises :class:`TooMuchWork` as soon as that number passes ``limit``."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
            if limit is not None and count > limit:
                raise TooMuchWork(f"more than {limit} lines of {PACKAGE} code run")
        return local

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        module = str(frame.f_globals.get("__name__", ""))
        if module == PACKAGE or module.startswith(PACKAGE + "."):
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        result = call()
    finally:
        sys.settrace(previous)
    return result, count


def grows_linearly(work: Callable[[int], object], size: int, slack: float = 1.1) -> None:
    """Asserts that ``work(2 * size)`` runs at most ``2 * slack`` times the lines ``work(size)``
    runs: its cost is linear in the size, not quadratic or worse."""
    _, single = lines_run(lambda: work(size))
    _, double = lines_run(lambda: work(2 * size))
    assert single > 0, "no aasee code ran"
    assert double <= 2 * slack * single, f"{single} lines for {size}, {double} for {2 * size}"
