"""Small torch helpers shared by the spaces' torch networks, the zero-cost proxies and the gradient
search (torch imported lazily)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from hwlat._optional import import_optional

__all__ = ["seeded", "single_threaded"]

F = TypeVar("F", bound=Callable[..., Any])


def seeded(seed: int, build: Callable[[], Any]) -> Any:
    """Run ``build()`` with torch's global generator seeded, leaving the caller's state untouched."""
    torch = import_optional("torch", "building a seeded network")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


def single_threaded(fn: F) -> F:
    """Run ``fn`` on one torch intra-op thread, then restore the caller's setting.

    The networks that proxies score and gradient searches train here are small: on a busy
    machine more threads only wait for each other (measured: 1.3 s instead of 0.05 s per NB201
    network scored, 441 s instead of 13 s for the gradient-search tests).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        torch = import_optional("torch", fn.__qualname__)
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper  # type: ignore[return-value]
