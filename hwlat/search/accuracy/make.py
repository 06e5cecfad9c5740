"""Building an accuracy source from its text: :func:`make_accuracy`, over the prefixes registered
in :data:`hwlat.registry.ACCURACY`.

A new kind of source is one module with a factory ``(rest, space, **kw) -> AccuracySource`` and
one registration of its prefix::

    from hwlat.registry import ACCURACY
    ACCURACY.register("mybench", "mypackage.bench:from_text", syntax="mybench:PATH")

after which ``make_accuracy("mybench:results.csv", space)`` and ``hwlat search --accuracy
mybench:results.csv`` use it. :class:`hwlat.testing.accuracy.AccuracySourceContract` is the
conformance suite it should pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hwlat.errors import InputError
from hwlat.registry import ACCURACY, accuracy_syntax
from hwlat.search.accuracy.base import AccuracySource, as_source
from hwlat.search.accuracy.callable import CallableAccuracy

if TYPE_CHECKING:
    from hwlat.spaces import SearchSpace

__all__ = ["accuracy_syntax", "make_accuracy"]


def make_accuracy(spec: Any, space: SearchSpace, **kw: Any) -> AccuracySource:
    """The accuracy source described by ``spec`` for ``space``.

    ``spec`` is a text ``PREFIX:REST`` whose prefix is registered in
    :data:`hwlat.registry.ACCURACY` (``nb201-csv:PATH[:DATASET]``, ``ofa-predictor:PATH``,
    ``proxy:NAME``), any other ``module:function`` (a user callable), a Python callable taking a
    list of architectures, or an object with ``name``, ``kind`` and ``evaluate``/``evaluate_genes``
    (returned as a source). ``kw`` go to the source's constructor (e.g. ``backend="torch"``,
    ``dataset="cifar100"``).
    """
    if not isinstance(spec, str):
        if hasattr(spec, "name") and (hasattr(spec, "evaluate") or hasattr(spec, "evaluate_genes")):
            return as_source(spec, space)
        if callable(spec):
            return CallableAccuracy(spec, space, **kw)
        raise InputError(f"an accuracy source is a text like {accuracy_syntax()[0]!r}, a callable or an accuracy "
                         f"source object; got {type(spec).__name__}")
    text = spec.strip()
    prefix, sep, rest = text.partition(":")
    prefix = prefix.lower()
    if sep and prefix in ACCURACY:
        return as_source(ACCURACY.get(prefix)(rest, space, **kw), space)
    if sep:
        return CallableAccuracy(text, space, **kw)
    raise InputError(f"unknown accuracy source {spec!r}; use one of: {'; '.join(accuracy_syntax())}")
