"""The demo's output: messages, progress bars (on a terminal), tables that line up Chinese
text, and money in 万元."""

from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import timedelta, timezone
from typing import Any, TextIO

CHINA = timezone(timedelta(hours=8))  # times are shown in Beijing time
YUAN = 100  # fen
WAN = 10_000 * YUAN  # 万元, in fen


class Console:
    """Step lines on `out`; progress bars on `bars` when it is a terminal."""

    def __init__(self, out: TextIO, bars: TextIO):
        self.out, self.bars = out, bars
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        with self._lock:
            self.out.write(f"[{time.monotonic() - self.started:6.1f}s] {message}\n")
            self.out.flush()

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def progress(self, label: str, total: float, unit: str = "") -> "Progress":
        return Progress(label, total, self.bars, unit)


class Progress:
    """A one-line bar, redrawn in place at most ten times a second; silent when the stream
    is not a terminal."""

    WIDTH = 30

    def __init__(self, label: str, total: float, stream: TextIO, unit: str = ""):
        self.label, self.total, self.stream, self.unit = label, max(total, 1), stream, unit
        self.done, self._drawn = 0.0, 0.0
        self.visible = getattr(stream, "isatty", lambda: False)()
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._draw(force=True)

    def advance(self, amount: float = 1) -> None:
        with self._lock:
            self.done = min(self.done + amount, self.total)
            self._draw()

    def set(self, done: float) -> None:
        with self._lock:
            self.done = min(done, self.total)
            self._draw()

    def close(self) -> None:
        with self._lock:
            self._draw(force=True)
            if self.visible:
                self.stream.write("\n")
                self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.visible or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        filled = int(self.WIDTH * self.done / self.total)
        bar = "█" * filled + "░" * (self.WIDTH - filled)
        count = f"{self.done:.0f}/{self.total:.0f}{self.unit}"
        self.stream.write(f"\r  {self.label:<28} {bar} {count:>11} {now - self.started:5.1f}s")
        self.stream.flush()


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table; numbers right-aligned, Chinese counted double width."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max(_width(cell) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        parts = []
        for cell, width in zip(cells, widths):
            pad = " " * (width - _width(cell))
            parts.append(pad + cell if cell[:1].isdigit() or cell[:1] == "-" and cell[1:2].isdigit() else cell + pad)
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def wan(fen: int) -> str:
    """Fen as 万元 with two decimals."""
    return f"{fen / WAN:,.2f}"
