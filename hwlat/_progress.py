"""Progress bars on stderr: tqdm's on a terminal; elsewhere (a log file, a CI job, a pipe) a plain
line now and then, with no carriage-return frames, and the final state once.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

__all__ = ["LineProgress", "progress_bar"]

#: seconds between two lines of a progress bar that does not write to a terminal
LINE_INTERVAL_S = 30.0


def progress_bar(*, total: int, desc: str = "", unit: str = "it", initial: int = 0, disable: bool = False,
                 file: IO[str] | None = None, leave: bool = True, **tqdm_kw: Any) -> Any:
    """A progress bar over ``total`` items: a tqdm bar when ``file`` (default stderr) is a terminal,
    else a :class:`LineProgress`. Both take ``update(n)``, ``set_postfix(**kw)``, ``close()`` and
    ``with``."""
    stream = file if file is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    if disable or not (callable(isatty) and isatty()):
        return LineProgress(total=total, desc=desc, unit=unit, initial=initial, disable=disable, file=stream)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=stream, leave=leave,
                dynamic_ncols=True, **tqdm_kw)


class LineProgress:
    """Progress as whole lines: one when started, one every ``interval_s`` seconds of progress at
    most, and the final state once when closed."""

    def __init__(self, *, total: int, desc: str = "", unit: str = "it", initial: int = 0, disable: bool = False,
                 file: IO[str] | None = None, interval_s: float = LINE_INTERVAL_S) -> None:
        self.total, self.desc, self.unit, self.n = int(total), desc, unit, int(initial)
        self.disable = disable or self.n >= self.total
        self.file = file if file is not None else sys.stderr
        self.interval_s = interval_s
        self._initial = self.n
        self._t0 = self._last = time.perf_counter()
        self._postfix = ""
        self._written: str | None = None
        self._closed = False
        self._write()

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        if time.perf_counter() - self._last >= self.interval_s:
            self._write()

    def set_postfix(self, refresh: bool = True, **kw: Any) -> None:
        self._postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._write()

    def __enter__(self) -> LineProgress:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self) -> str:
        elapsed = time.perf_counter() - self._t0
        pct = 100.0 * self.n / self.total if self.total else 100.0
        text = (f"{self.desc + ': ' if self.desc else ''}{self.n}/{self.total} {self.unit} ({pct:.0f} %), "
                f"{elapsed:.0f} s")
        done = self.n - self._initial
        if 0 < done and self.n < self.total:
            text += f", ETA {elapsed / done * (self.total - self.n):.0f} s"
        return text + (f" [{self._postfix}]" if self._postfix else "")

    def _write(self) -> None:
        self._last = time.perf_counter()
        if self.disable:
            return
        key = f"{self.n}/{self.total}"
        if key == self._written:  # the same state twice (e.g. the last update, then close): once
            return
        self._written = key
        self.file.write(self.line() + "\n")
        self.file.flush()
