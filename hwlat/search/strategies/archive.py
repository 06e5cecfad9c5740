"""The archive of a search: every evaluated architecture, what strategies read in ask/tell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Archive"]


class Archive:
    """Every evaluated architecture: genes, latency (ms), accuracy, extra objectives, round."""

    def __init__(self, n_genes: int, extra_names: Sequence[str], sizes: Sequence[int] | None = None) -> None:
        self.extra_names = list(extra_names)
        # rows as one integer (mixed radix) where the space is small enough: a set of ints is
        # several times faster to probe than one of byte strings
        self._radix: np.ndarray | None = None
        if sizes is not None and float(np.prod(np.asarray(sizes, dtype=np.float64))) < 2.0 ** 62:
            sz = np.asarray(sizes, dtype=np.int64)
            self._radix = np.concatenate([np.cumprod(sz[::-1])[::-1][1:], [1]]).astype(np.int64)
        self.n = 0
        self._genes = np.zeros((64, n_genes), dtype=np.int64)
        self._lat = np.zeros(64)
        self._acc = np.zeros(64)
        self._extra = np.zeros((64, len(self.extra_names)))
        self._round = np.zeros(64, dtype=np.int64)
        self._keys: set[Any] = set()

    @property
    def genes(self) -> np.ndarray:
        return self._genes[:self.n]

    @property
    def latency_ms(self) -> np.ndarray:
        return self._lat[:self.n]

    @property
    def accuracy(self) -> np.ndarray:
        return self._acc[:self.n]

    @property
    def extra(self) -> np.ndarray:
        return self._extra[:self.n]

    @property
    def rounds(self) -> np.ndarray:
        return self._round[:self.n]

    def unseen(self, genes: np.ndarray) -> np.ndarray:
        """Rows of ``genes`` not in the archive, duplicates within ``genes`` dropped, order kept."""
        g = np.ascontiguousarray(genes, dtype=np.int64)
        keep = []
        seen: set[Any] = set()
        for i, k in enumerate(self._row_keys(g)):
            if k not in self._keys and k not in seen:
                seen.add(k)
                keep.append(i)
        return g[keep]

    def _row_keys(self, g: np.ndarray) -> list[Any]:
        if self._radix is not None:
            return (g @ self._radix).tolist()
        return [row.tobytes() for row in g]

    def add(self, genes: np.ndarray, lat: np.ndarray, acc: np.ndarray, extra: np.ndarray, rnd: int) -> np.ndarray:
        m = genes.shape[0]
        need = self.n + m
        if need > self._lat.size:
            cap = max(need, 2 * self._lat.size)
            self._genes = np.resize(self._genes, (cap, self._genes.shape[1]))
            self._lat, self._acc = np.resize(self._lat, cap), np.resize(self._acc, cap)
            self._extra = np.resize(self._extra, (cap, self._extra.shape[1]))
            self._round = np.resize(self._round, cap)
        sl = slice(self.n, need)
        self._genes[sl], self._lat[sl], self._acc[sl], self._extra[sl], self._round[sl] = genes, lat, acc, extra, rnd
        self._keys.update(self._row_keys(np.ascontiguousarray(genes, dtype=np.int64)))
        self.n = need
        return np.arange(sl.start, sl.stop)

    def objectives(self, rows: np.ndarray) -> np.ndarray:
        """Minimised objectives of ``rows``: latency (ms), -accuracy, then the extra objectives."""
        return np.column_stack([self._lat[rows], -self._acc[rows], self._extra[rows]])

    def arrays(self, start: int = 0) -> dict[str, np.ndarray]:
        """Rows ``start`` onwards (copies), by column: what :meth:`extend` takes back."""
        sl = slice(start, self.n)
        return {"genes": self._genes[sl].copy(), "latency_ms": self._lat[sl].copy(), "accuracy": self._acc[sl].copy(),
                "extra": self._extra[sl].copy(), "round": self._round[sl].copy()}

    def extend(self, arrays: Mapping[str, Any]) -> None:
        """Append the rows of :meth:`arrays` (arrays or lists, as read back from JSON), each with its round."""
        lat = np.asarray(arrays["latency_ms"], dtype=np.float64)
        start = self.n
        self.add(np.asarray(arrays["genes"], dtype=np.int64).reshape(lat.size, self._genes.shape[1]), lat,
                 np.asarray(arrays["accuracy"], dtype=np.float64),
                 np.asarray(arrays["extra"], dtype=np.float64).reshape(lat.size, len(self.extra_names)), 0)
        self._round[start:self.n] = np.asarray(arrays["round"], dtype=np.int64)
