"""The errors hwlat raises. Every one says what was wrong and how to fix it."""

from __future__ import annotations

__all__ = [
    "HwlatError",
    "InputError",
    "MissingDependencyError",
    "MissingEntryError",
    "UnsupportedOpError",
    "DeviceError",
    "NotFittedError",
]


class HwlatError(Exception):
    """Base of every error hwlat raises on purpose; the CLI prints its message and exits 1."""


class InputError(HwlatError, ValueError):
    """Bad input from the user: a malformed file, an unknown name, an out-of-range value."""


class MissingDependencyError(HwlatError, ImportError):
    """An optional runtime or library is not installed; the message names the extra."""


class MissingEntryError(HwlatError, KeyError):
    """A latency table has no row for a key; the message names the nearest keys."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnsupportedOpError(HwlatError):
    """A runtime or emitter cannot run or express an op; the message names it."""


class DeviceError(HwlatError):
    """A device cannot be reached or lacks what was asked of it."""


class NotFittedError(HwlatError, ValueError, AttributeError):
    """A predictor was used before ``fit`` (or loading); the message says what to call.

    Its bases besides :class:`HwlatError` are those of scikit-learn's ``NotFittedError``
    (which it does not subclass: that would make ``import hwlat`` import scikit-learn).
    """
