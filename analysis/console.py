"""What a command is handed to speak through (cli.Console prints it) and the clock: the
pipeline's and index_command's, which alone read the time."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Protocol


class Console(Protocol):  # cli.Console prints: results to stdout, the rest to stderr
    def out(self, line: str) -> None: ...
    def note(self, line: str) -> None: ...
    def error(self, line: str) -> None: ...
    def progress(self, elapsed_s: float, line: str) -> None: ...

Say = Callable[[str], None]


def progress(console: Console) -> Say:
    start = time.monotonic()
    return lambda message: console.progress(time.monotonic() - start, message)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamp() -> str:
    return now_utc().strftime("%Y-%m-%d %H:%M:%S UTC")
