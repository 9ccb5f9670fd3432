"""A wall-clock deadline for the parts of a fit that share one time budget, and draws that stop before overrunning it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

_Part = TypeVar("_Part")

MIN_SECONDS = 1e-6  # the smallest time budget handed to a training loop (it needs a positive one)


@dataclass(frozen=True)
class Deadline:
    """An end time in time.perf_counter() seconds; end=None is no deadline (every question answers 'time enough')."""

    end: float | None

    @classmethod
    def after(cls, start: float, budget: float | None) -> Deadline:
        """The deadline `budget` seconds after `start` (perf_counter seconds); none where budget is None."""
        return cls(None if budget is None else start + budget)

    def earlier(self, seconds: float) -> Deadline:
        """This deadline moved `seconds` earlier, reserving them for later work."""
        return self if self.end is None else Deadline(self.end - seconds)

    def left(self) -> float | None:
        """Seconds from now to the deadline (negative once it passed); None without one."""
        return None if self.end is None else self.end - time.perf_counter()

    def passed(self) -> bool:
        """Whether the deadline has come (never, without one)."""
        return self.end is not None and time.perf_counter() >= self.end

    def holds(self, seconds: float) -> bool:
        """Whether work of `seconds` started now ends by the deadline (always, without one)."""
        return self.end is None or time.perf_counter() + seconds <= self.end

    def share(self, fraction: float) -> Deadline:
        """The deadline after `fraction` of the time left from now (none left: now)."""
        if self.end is None:
            return self
        now = time.perf_counter()
        return Deadline(now + fraction * max(0.0, self.end - now))

    def budget(self, fraction: float = 1.0) -> float | None:
        """`fraction` of the time left, as a time budget for a training loop (at least MIN_SECONDS); None without one."""
        left = self.left()
        return None if left is None else max(MIN_SECONDS, left * fraction)


def draw_until(items: Iterable, deadline: Deadline, draw: Callable[..., _Part]) -> list[_Part]:
    """draw(item) for each item in turn, stopping early when the next draw, if it took as long as the last, would end
    past `deadline`. At least one draw runs."""
    parts = []
    for item in items:
        start = time.perf_counter()
        parts.append(draw(item))
        now = time.perf_counter()
        if deadline.end is not None and now + (now - start) > deadline.end:
            break
    return parts
