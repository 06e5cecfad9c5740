"""Accuracy sources: where the accuracy half of a latency–accuracy front comes from.

Every source is named (``.name``, written next to each accuracy in the output), says what it
is (``.kind``: ``"accuracy"`` for a measured or predicted accuracy in percent, ``"proxy"`` for a
zero-cost proxy score whose only meaning is its ranking) and evaluates architectures in batches
(``evaluate(archs)`` or, faster, ``evaluate_genes(genes)`` on the integer encoding of the space).

Sources are built from a short text, the same one the command line takes
(:func:`make_accuracy`); each prefix is registered in :data:`hwlat.registry.ACCURACY` and has
its own module here:

==========================================  =========================================================
``nb201-csv:PATH[:DATASET]``                NAS-Bench-201 test accuracy (%) from a NATS-Bench CSV;
                                            ``DATASET`` is ``cifar10`` (default), ``cifar100`` or
                                            ``imagenet16-120``
``ofa-predictor:PATH``                      Once-for-All's published accuracy predictor (predicted
                                            ImageNet top-1, %) for the ``ofa-mbv3`` space
``proxy:NAME``                              a zero-cost proxy computed live (``naswot``, ``synflow``)
``module:function`` / ``file.py:function``  any Python callable taking a list of architectures and
                                            returning one accuracy per architecture
==========================================  =========================================================

Modules: :mod:`.base` (the interface), :mod:`.make` (text -> source), :mod:`.nb201`, :mod:`.ofa`,
:mod:`.callable`; the zero-cost proxies are in :mod:`hwlat.search.proxies`.

The benchmark tables and third-party weights do not ship with hwlat: give their path; the error
when one is missing says where to get it.
"""

from __future__ import annotations

from hwlat.search.accuracy.base import AccuracySource, as_source, check_genes
from hwlat.search.accuracy.callable import CallableAccuracy
from hwlat.search.accuracy.make import accuracy_syntax, make_accuracy
from hwlat.search.accuracy.nb201 import NB201_DATASETS, NB201TableAccuracy
from hwlat.search.accuracy.ofa import OFAPredictorAccuracy

__all__ = [
    "AccuracySource",
    "NB201TableAccuracy",
    "OFAPredictorAccuracy",
    "CallableAccuracy",
    "make_accuracy",
    "accuracy_syntax",
    "as_source",
    "check_genes",
    "NB201_DATASETS",
]
