"""Adaptive sampling of kernels (nn-Meter's adaptive data sampling) and the measuring function
``hwlat profile --kernels ... --adaptive`` drives it with.

:func:`adaptive_sample` fits a regressor on what has been measured, finds the configurations it
predicts worst (out-of-fold relative error), samples new configurations near them
(:func:`hwlat.predictors.sampling.perturb`), measures those, and repeats::

    measure = profiling_measure(device, protocol=protocol, out_dir=out, progress=progress)
    specs = adaptive_kernel_specs(["conv", "pool"], N, seed=seed, measure=measure)
    profile_ops(specs, device, protocol=protocol, out_dir=out)   # everything resumed: the final table
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat.errors import InputError
from hwlat.ops.spec import OpSpec
from hwlat.predictors.sampling import SAMPLED_KINDS, _check_kind, _ranges, perturb, resolve_kinds, sample_kernels

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec
    from hwlat.profiler.protocol import Protocol
    from hwlat.profiler.runtimes import Runtime

__all__ = ["adaptive_kernel_specs", "adaptive_sample", "profiling_measure"]

log = logging.getLogger(__name__)


def _oof_relative_errors(specs: Sequence[OpSpec], ms: np.ndarray, *, estimator: Any, seed: int,
                         folds: int = 5) -> np.ndarray:
    """|out-of-fold prediction / measured - 1| of each spec (every spec predicted by a model that never saw it)."""
    from hwlat.predictors.kernels import KernelRegressor

    n = len(specs)
    rng = np.random.default_rng(seed)
    fold = rng.permutation(n) % folds
    err = np.zeros(n)
    for f in range(folds):
        te = np.flatnonzero(fold == f)
        tr = np.flatnonzero(fold != f)
        if te.size == 0:
            continue
        reg = KernelRegressor(estimator=estimator, min_samples=2, random_state=seed)
        reg.fit([specs[int(i)] for i in tr], ms[tr])
        pred = reg.predict([specs[int(i)] for i in te])
        err[te] = np.abs(pred / ms[te] - 1.0)
    return err


def adaptive_sample(kind: str, measure: Callable[[list[OpSpec]], np.ndarray], *, n_initial: int, n_rounds: int,
                    n_per_round: int, seed: int, ranges: dict[str, Any] | None = None, estimator: Any = "et",
                    n_focus: int | None = None) -> tuple[list[OpSpec], np.ndarray]:
    """nn-Meter's adaptive data sampling for one op kind; returns every spec measured and its latency (ms).

    ``n_initial`` random configurations are measured first. Then, for ``n_rounds`` rounds, a
    regressor is fitted with 5-fold cross-validation, the ``n_focus`` configurations with the
    largest out-of-fold relative error (default: a quarter of ``n_per_round``, at least 1) are
    chosen, ``n_per_round`` new configurations are drawn near them with :func:`perturb` (topped
    up with random ones when the neighbourhood is exhausted) and measured. ``measure`` takes a
    list of specs and returns their latencies in ms (e.g. :func:`profiling_measure`).
    ``estimator`` is the :class:`~hwlat.predictors.kernels.KernelRegressor` estimator used to find
    the worst-predicted configurations (a preset name or a scikit-learn regressor).
    """
    _check_kind(kind)
    for name, v, lo in (("n_initial", n_initial, 10), ("n_rounds", n_rounds, 0), ("n_per_round", n_per_round, 1)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    r = _ranges(ranges)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), SAMPLED_KINDS.index(kind), 1]))

    def run(batch: list[OpSpec]) -> np.ndarray:
        y = np.asarray(measure(batch), dtype=np.float64).reshape(-1)
        if y.size != len(batch):
            raise InputError(f"measure returned {y.size} latencies for {len(batch)} ops; it must return one per op")
        return y

    specs = sample_kernels(kind, n_initial, seed=seed, ranges=r)
    ms = run(specs)
    n_focus = max(1, n_per_round // 4) if n_focus is None else max(1, int(n_focus))
    for rnd in range(n_rounds):
        err = _oof_relative_errors(specs, ms, estimator=estimator, seed=int(seed) + rnd)
        worst = np.argsort(-err, kind="stable")[:n_focus]
        log.info("adaptive sampling %s, round %d/%d: %d measured, out-of-fold MAPE %.1f %%, focusing on %d worst "
                 "(%.0f %% .. %.0f %%)", kind, rnd + 1, n_rounds, len(specs), 100 * err.mean(), worst.size,
                 100 * err[worst].max(), 100 * err[worst].min())
        seen = {s.key for s in specs}
        new: list[OpSpec] = []
        for _ in range(n_per_round * 20):
            if len(new) >= n_per_round:
                break
            base = specs[int(worst[len(new) % worst.size])]
            cand = perturb(base, rng, ranges=r)
            if cand is None or cand.key in seen:
                continue
            seen.add(cand.key)
            new.append(cand)
        if len(new) < n_per_round:
            new.extend(sample_kernels(kind, n_per_round - len(new), seed=int(rng.integers(2**31)), ranges=r,
                                      exclude=list(seen)))
        specs.extend(new)
        ms = np.concatenate([ms, run(new)])
    return specs, ms


def adaptive_kernel_specs(kinds: Sequence[str], samples: int, seed: int, *,
                          measure: Callable[[list[OpSpec]], np.ndarray], rounds: int = 4,
                          ranges: dict[str, Any] | None = None, estimator: Any = "et") -> list[OpSpec]:
    """``samples`` configurations of each kind picked by :func:`adaptive_sample`: half random, the rest in
    ``rounds`` adaptive rounds (for ``hwlat profile --kernels ... --adaptive``). Returns every spec measured."""
    kinds = resolve_kinds(kinds)
    if samples < 20:
        raise InputError(f"adaptive sampling needs at least 20 samples per kind, got {samples}; "
                         "sample without --adaptive or ask for more")
    n_initial = max(10, samples // 2)
    rounds = max(1, min(rounds, samples - n_initial))
    per_round = (samples - n_initial) // rounds
    out: list[OpSpec] = []
    for k in kinds:
        specs, _ = adaptive_sample(k, measure, n_initial=samples - rounds * per_round, n_rounds=rounds,
                                   n_per_round=per_round, seed=seed, ranges=ranges, estimator=estimator)
        out.extend(specs)
    return out


def profiling_measure(device: DeviceSpec | Runtime | str, *, protocol: Protocol | None = None,
                      out_dir: str | os.PathLike[str] | None = None, progress: bool = False
                      ) -> Callable[[list[OpSpec]], np.ndarray]:
    """A ``measure`` callable for :func:`adaptive_sample`: profiles specs on ``device`` (ms, the protocol's statistic).

    With ``out_dir`` every batch goes to the same resumable checkpoint, so what was measured
    survives an interruption and the folder ends up holding one table of everything.
    """
    from hwlat.profiler import Protocol, profile_ops

    proto = protocol or Protocol()

    def measure(specs: list[OpSpec]) -> np.ndarray:
        res = profile_ops(specs, device, protocol=proto, out_dir=out_dir, progress=progress)
        return res.table.lookup_many(specs)

    return measure
