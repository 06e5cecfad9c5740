"""Importers of published latency lookup tables.

Once-for-All (Cai et al., ICLR 2020) and ProxylessNAS (Cai et al., ICLR 2019) publish per-block
latency tables as YAML: ``key -> {count, mean, std}``, latencies in ms, shapes in the key in
``HxWxC`` (NHWC) order, e.g.::

    expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0:
      count: 54
      mean: 4.81
      std: 0.09

Each key maps to exactly one :class:`~hwlat.ops.OpSpec` (see :func:`import_ofa_yaml`). The
published tables give only the mean and standard deviation of the latency, so an imported row's
``latency_ms`` is the **mean** (``metadata.statistic == "mean"``) and its median, IQR and
percentiles are NaN.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import yaml

from hwlat._io import load_yaml
from hwlat.errors import InputError
from hwlat.latency_tables._table import LatencyTable, TableMetadata
from hwlat.ops.spec import OpSpec

__all__ = ["import_ofa_yaml", "ofa_key_to_spec", "SPACES"]

logger = logging.getLogger(__name__)

#: supported spaces -> (activation of the stem/final convs and of non-h-swish blocks, block fields)
SPACES: dict[str, dict[str, Any]] = {
    "ofa-mbv3": {"conv_act": "hswish", "block_act": ("relu", "hswish"),
                 "fields": ("expand", "kernel", "stride", "idskip", "se", "hs")},
    "proxyless": {"conv_act": "relu6", "block_act": ("relu6", "relu6"),
                  "fields": ("expand", "kernel", "stride", "idskip")},
}

_KEY = re.compile(
    r"^(?P<type>[A-Za-z][A-Za-z0-9_]*)-input:(?P<inp>\d+(?:x\d+)*)-output:(?P<out>\d+(?:x\d+)*)"
    r"(?P<rest>(?:-[a-z_]+:[0-9.]+)*)$"
)


def _shape(s: str) -> tuple[int, ...]:
    """``HxWxC`` -> ``(C, H, W)``; ``N`` -> ``(N,)``."""
    dims = tuple(int(x) for x in s.split("x"))
    if len(dims) == 3:
        h, w, c = dims
        return (c, h, w)
    if len(dims) == 1:
        return dims
    raise ValueError(f"shape {s!r} is neither HxWxC nor N")


def ofa_key_to_spec(key: str, *, space: str = "ofa-mbv3") -> OpSpec:
    """The :class:`OpSpec` of one Once-for-All / ProxylessNAS lookup-table key.

    - ``expanded_conv`` -> ``mbconv``; in ``ofa-mbv3`` tables ``expand`` is the middle channel
      count, ``hs`` picks h-swish (else ReLU) and ``se`` squeeze-and-excitation; in
      ``proxyless`` tables ``expand`` is the expansion ratio (mid = round(C * ratio)) and the
      activation is ReLU6.
    - ``Conv`` (stem, 3x3 stride 2), ``Conv_1`` (final 1x1 expand) -> ``conv`` with BN and
      h-swish (``ofa-mbv3``) / ReLU6 (``proxyless``); ``Conv_2`` (``ofa-mbv3`` feature mix,
      1x1 without BN) -> ``conv`` with ``bn=0``, h-swish.
    - ``AvgPool2D`` -> ``gap``; ``Logits`` -> ``fc`` (on ``(C,)`` for a 1x1 input, else on
      ``(C, H, W)``, global pooling included).

    Raises :class:`InputError` when the key does not parse or its output shape does not match.
    """
    if space not in SPACES:
        raise InputError(f"unknown lookup-table space {space!r}; choose one of {', '.join(SPACES)}")
    conf = SPACES[space]
    m = _KEY.match(key.strip())
    if m is None:
        raise InputError(f"malformed lookup-table key {key!r}; expected e.g. "
                         "'expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-...'")
    typ = m["type"]
    try:
        inp, out = _shape(m["inp"]), _shape(m["out"])
    except ValueError as exc:
        raise InputError(f"lookup-table key {key!r}: {exc}") from None
    fields: dict[str, str] = {}
    for item in m["rest"].split("-")[1:]:
        name, _, value = item.partition(":")
        if name in fields:
            raise InputError(f"lookup-table key {key!r} repeats field {name!r}")
        fields[name] = value
    expected: tuple[str, ...] = conf["fields"] if typ == "expanded_conv" else ()
    if set(fields) != set(expected):
        other = [s for s, c in SPACES.items()
                 if s != space and typ == "expanded_conv" and set(fields) == set(c["fields"])]
        hint = f"; it looks like a {other[0]!r} table: import it with space={other[0]!r}" if other else ""
        raise InputError(f"lookup-table key {key!r} has fields {sorted(fields) or 'none'}, but a {typ!r} key of a "
                         f"{space!r} table has {list(expected) or 'none'}{hint}")

    def num(name: str) -> int:
        v = fields[name]
        if not v.isdigit():
            raise InputError(f"lookup-table key {key!r}: field {name!r} must be an integer, got {v!r}")
        return int(v)

    if len(inp) != 3 and typ != "Logits":
        raise InputError(f"lookup-table key {key!r}: a {typ!r} input must be HxWxC")
    act = conf["conv_act"]
    if typ == "expanded_conv":
        c = inp[0]
        if space == "ofa-mbv3":
            mid = num("expand")
        else:
            try:
                ratio = float(fields["expand"])
            except ValueError:
                raise InputError(f"lookup-table key {key!r}: expand ratio {fields['expand']!r} "
                                 "is not a number") from None
            mid = c if ratio == 1 else int(round(c * ratio))
        hs = num("hs") if "hs" in fields else 0
        spec = _make(key, "mbconv", inp, cout=_channels(out, key), k=num("kernel"), s=num("stride"), mid=mid,
                     se=num("se") if "se" in fields else 0, act=conf["block_act"][1 if hs else 0], res=num("idskip"))
    elif typ == "Conv":
        spec = _make(key, "conv", inp, cout=_channels(out, key), k=3, s=2, act=act)
    elif typ == "Conv_1":
        spec = _make(key, "conv", inp, cout=_channels(out, key), k=1, s=1, act=act)
    elif typ == "Conv_2" and space == "ofa-mbv3":
        spec = _make(key, "conv", inp, cout=_channels(out, key), k=1, s=1, bn=0, act="hswish")
    elif typ == "AvgPool2D":
        spec = _make(key, "gap", inp)
    elif typ == "Logits":
        if len(out) != 1:
            raise InputError(f"lookup-table key {key!r}: a Logits output is a class count N, got {m['out']!r}")
        shape = inp[:1] if len(inp) == 3 and inp[1] == inp[2] == 1 else inp
        spec = _make(key, "fc", shape, cout=out[0])
    else:
        known = "expanded_conv, Conv, Conv_1, " + ("Conv_2, " if space == "ofa-mbv3" else "") + "AvgPool2D, Logits"
        raise InputError(f"lookup-table key {key!r}: unknown block type {typ!r} for a {space!r} table "
                         f"(known: {known})")
    got = spec.output_shape
    if got != out:
        raise InputError(f"lookup-table key {key!r} says the output is {m['out']}, but {spec.key} gives "
                         f"{'x'.join(map(str, got[1:] + got[:1])) if len(got) == 3 else got[0]} (HxWxC)")
    return spec


def _channels(out: tuple[int, ...], key: str) -> int:
    if len(out) != 3:
        raise InputError(f"lookup-table key {key!r}: the output must be HxWxC")
    return out[0]


def _make(key: str, kind: str, shape: tuple[int, ...], **params: Any) -> OpSpec:
    try:
        return OpSpec.make(kind, shape, **params)
    except InputError as exc:
        raise InputError(f"lookup-table key {key!r} does not describe a valid {kind}: {exc}") from None


def _load_marked(p: Path) -> tuple[Any, dict[str, int]]:
    """The parsed YAML document and the 1-based line of each top-level key."""
    data, node = load_yaml(p, "lookup table", "fix the file or download it again")
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for knode, _ in node.value:
            k = str(knode.value)
            if k in lines:
                raise InputError(f"{p}:{knode.start_mark.line + 1}: key {k!r} appears twice "
                                 f"(first on line {lines[k]})")
            lines[k] = knode.start_mark.line + 1
    return data, lines


def import_ofa_yaml(path: str | os.PathLike[str], *, space: str = "ofa-mbv3",
                    device: str | None = None) -> LatencyTable:
    """Read a Once-for-All (``space="ofa-mbv3"``) or ProxylessNAS (``"proxyless"``) YAML table.

    ``latency_ms`` := the published mean (the tables give only mean and std, in ms);
    ``mean_ms``/``std_ms`` as published, ``n`` := ``count``, IQR and percentiles NaN. The device
    is named after the file (``note10_lut_224.yaml`` -> ``"note10 (imported)"``) unless
    ``device`` is given.
    """
    if space not in SPACES:
        raise InputError(f"unknown lookup-table space {space!r}; choose one of {', '.join(SPACES)}")
    p = Path(path)
    if not p.is_file():
        raise InputError(f"lookup table {p} does not exist; give the path of a Once-for-All / ProxylessNAS "
                         "latency YAML (e.g. note10_lut_224.yaml from the Once-for-All repository)")
    data, lines = _load_marked(p)
    if not isinstance(data, dict) or not data:
        raise InputError(f"{p} is not a latency lookup table: expected a YAML mapping "
                         "'key: {count: N, mean: MS, std: MS}'")
    rows = []
    for key, value in data.items():
        where = f"{p}:{lines.get(str(key), '?')}"
        try:
            spec = ofa_key_to_spec(str(key), space=space)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        if not isinstance(value, dict) or "mean" not in value:
            raise InputError(f"{where}: entry {key!r} must be a mapping with 'mean' (ms), 'std' and 'count'")
        try:
            mean = float(value["mean"])
            std = float(value["std"]) if value.get("std") is not None else math.nan
            count = int(value["count"]) if value.get("count") is not None else None
        except (TypeError, ValueError):
            raise InputError(f"{where}: entry {key!r} has a non-numeric mean/std/count: {value!r}") from None
        if not math.isfinite(mean) or mean <= 0:
            raise InputError(f"{where}: entry {key!r} has an invalid mean latency {mean!r} ms; a latency is a "
                             "finite number of ms above 0")
        if not math.isnan(std) and not (math.isfinite(std) and std >= 0):
            raise InputError(f"{where}: entry {key!r} has an invalid std {std!r} ms; it is a finite number >= 0")
        if count is not None and count < 0:
            raise InputError(f"{where}: entry {key!r} has a negative count {count}")
        rows.append((spec, {"latency_ms": mean, "mean_ms": mean, "std_ms": std, "n": count}))
    name = device or (p.stem.split("_lut")[0] if "_lut" in p.stem else p.stem)
    meta = TableMetadata(
        device={"name": f"{name} (imported)", "runtime": None, "provider": None, "threads": None,
                "precision": None, "location": None},
        host={},
        runtime="unknown",
        runtime_version="unknown",
        threads=0,
        protocol={"published": True, "statistic": "mean"},
        overhead_ms=None,
        source=f"imported:{p.name}",
        statistic="mean",
        extra={"space": space,
               "origin": "latency lookup table published with Once-for-All / ProxylessNAS; the file does not "
                         "record the runtime, its version or the threads used"},
    )
    keys = [s.key for s, _ in rows]
    if len(set(keys)) != len(keys):
        raise InputError(f"{p}: two entries map to the same op; the table is inconsistent")
    logger.debug("imported %d rows from %s", len(rows), p)
    return LatencyTable.from_rows(meta, rows)
