"""NAS-Bench-201 test accuracy from a NATS-Bench CSV: ``nb201-csv:PATH[:cifar10|cifar100|imagenet16-120]``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat.errors import InputError
from hwlat.search.accuracy.base import AccuracySource, check_genes

if TYPE_CHECKING:
    from hwlat.spaces.nb201 import NB201Space

__all__ = ["NB201TableAccuracy", "NB201_DATASETS", "from_text"]

log = logging.getLogger(__name__)

#: dataset name -> (CSV column, number of classes, input size) of NAS-Bench-201
NB201_DATASETS: dict[str, tuple[str, int, int]] = {
    "cifar10": ("cifar10_test_acc", 10, 32),
    "cifar100": ("cifar100_test_acc", 100, 32),
    "imagenet16-120": ("imagenet16_120_test_acc", 120, 16),
}

NB201_HINT = (
    "get the NAS-Bench-201 accuracies from the NATS-Bench release (https://github.com/D-X-Y/NATS-Bench, "
    "topology search space 'NATS-tss-v1_0-3ffb9', 200-epoch test accuracy) and export a CSV with the columns "
    "index, arch_str, cifar10_test_acc, cifar100_test_acc, imagenet16_120_test_acc"
)


def _nb201_dataset(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    if key not in NB201_DATASETS:
        raise InputError(f"unknown NAS-Bench-201 dataset {name!r}; choose one of {', '.join(NB201_DATASETS)}")
    return key


class NB201TableAccuracy(AccuracySource):
    """NAS-Bench-201 test accuracy (%) of every cell, read from a CSV.

    The CSV has the columns ``index, arch_str, cifar10_test_acc, cifar100_test_acc,
    imagenet16_120_test_acc`` (NATS-Bench topology space, 200 epochs; NAS-Bench-201 v1_1 values
    differ by up to ~3 points for some cells — the file name is part of :attr:`name` so a result
    says which file it used). Rows are matched by ``arch_str``, so any row order works; a cell
    missing from the file is an error when it is queried.
    """

    kind = "accuracy"
    unit = "%"
    spaces = ("nb201",)
    label = "NAS-Bench-201's accuracy table"

    def __init__(self, path: str | Path, space: NB201Space, dataset: str = "cifar10") -> None:
        super().__init__(space)
        self.dataset = _nb201_dataset(dataset)
        self.path = Path(path)
        column, classes, size = NB201_DATASETS[self.dataset]
        self.table_ = self._load(column)
        self.name = f"nb201:{self.dataset} test acc ({self.path.name})"
        if (space.num_classes, space.input_size) != (classes, size):
            log.warning("accuracies are for %s (%d classes, %dx%d inputs) but the nb201 space has %d classes and "
                        "%dx%d inputs, so its latencies are of a slightly different network; build the space "
                        "with num_classes=%d, input_size=%d to match", self.dataset, classes, size, size,
                        space.num_classes, space.input_size, space.input_size, classes, size)

    def _load(self, column: str) -> np.ndarray:
        import io

        import pandas as pd  # not needed to build help texts

        from hwlat._files import read_input_text, shown

        p = self.path
        text = read_input_text(p, "NAS-Bench-201 accuracy file", fix=NB201_HINT)
        try:
            df = pd.read_csv(io.StringIO(text))
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"cannot read NAS-Bench-201 accuracy file {shown(p)}: {exc}; {NB201_HINT}") from None
        need = {"arch_str", column}
        if not need <= set(df.columns):
            raise InputError(f"{p} is not a NAS-Bench-201 accuracy file for {self.dataset}: it needs the columns "
                             f"{sorted(need)}, found {list(df.columns)[:8]}; {NB201_HINT}")
        sizes = self.space.gene_sizes()
        table = np.full(int(np.prod(sizes)), np.nan)
        acc = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64)
        archs = []
        for line, s in enumerate(df["arch_str"].astype(str), start=2):
            try:
                archs.append(self.space.decode(s))
            except InputError as exc:
                raise InputError(f"{p}:{line}: {s[:80]!r} is not a NAS-Bench-201 cell ({exc}); is this an "
                                 f"accuracy file of another search space? {NB201_HINT}") from None
        if not archs:
            raise InputError(f"{p} holds no architectures; {NB201_HINT}")
        flat = np.ravel_multi_index(tuple(self.space.to_genes(archs).T), sizes)
        uniq, counts = np.unique(flat, return_counts=True)
        if (counts > 1).any():
            dup = self.space.encode(self.space.from_genes(np.unravel_index(uniq[counts > 1][0], sizes)))
            raise InputError(f"{p} lists cell {dup} more than once; keep one row per cell")
        bad = ~np.isfinite(acc)
        if bad.any():
            log.warning("%s: %d rows have no %s value; those cells cannot be evaluated", p, int(bad.sum()), column)
        if np.nanmax(acc) <= 1.0:
            log.warning("%s: every %s value is <= 1; hwlat expects percent (0-100)", p, column)
        table[flat] = acc
        n_missing = int(np.isnan(table).sum())
        if n_missing:
            log.info("%s: %d of %d cells have no %s value", p, n_missing, table.size, column)
        return table

    def evaluate_genes(self, genes: np.ndarray) -> np.ndarray:
        g = check_genes(self.space, genes)
        sizes = self.space.gene_sizes()
        if g.size and ((g < 0).any() or (g >= np.asarray(sizes)).any()):
            raise InputError(f"NAS-Bench-201 genes must lie in 0..{sizes[0] - 1}")
        out = self.table_[np.ravel_multi_index(tuple(g.T), sizes)] if g.shape[0] else np.zeros(0)
        if np.isnan(out).any():
            i = int(np.flatnonzero(np.isnan(out))[0])
            raise InputError(f"{self.path} has no {self.dataset} accuracy for cell "
                             f"{self.space.encode(self.space.from_genes(g[i]))} ({int(np.isnan(out).sum())} "
                             f"of {len(out)} queried cells missing); use a complete file — {NB201_HINT}")
        return out

    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        return self.evaluate_genes(self.space.to_genes(list(archs)))


def _datasets_in(path: Path) -> str:
    """Which datasets the accuracy file ``path`` has columns for, in words (for a message)."""
    from hwlat._files import shown

    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = fh.readline(65536)
    except OSError:
        header = ""
    columns = {c.strip().strip('"') for c in header.split(",")}
    have = [name for name, (col, _, _) in NB201_DATASETS.items() if col in columns]
    if have:
        return f"{shown(path)} has accuracies for: {', '.join(have)}; write e.g. nb201-csv:{shown(path)}:{have[0]}"
    return (f"{shown(path)} has no accuracy column of any ({', '.join(NB201_DATASETS)}); {NB201_HINT}")


def from_text(rest: str, space: NB201Space, **kw: Any) -> NB201TableAccuracy:
    """The source of ``nb201-csv:PATH[:DATASET]`` (``rest`` is what follows the prefix)."""
    path, dataset = rest, kw.pop("dataset", "cifar10")
    head, sep2, tail = rest.rpartition(":")
    if sep2 and tail.strip().lower().replace("_", "-") in NB201_DATASETS:
        path, dataset = head, tail
    elif sep2 and head and not Path(rest).exists() and Path(head).is_file():
        raise InputError(f"nb201-csv:{rest}: unknown NAS-Bench-201 dataset {tail!r}; "
                         f"{_datasets_in(Path(head))}")
    if not path:
        raise InputError(f"{'nb201-csv:' + rest!r}: give the CSV path, e.g. nb201-csv:accuracy.csv:cifar100")
    return NB201TableAccuracy(path, space, dataset=dataset, **kw)
