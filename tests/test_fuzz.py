"""Property tests of hwlat's loaders: whatever the bytes, a loader either loads or raises
:class:`hwlat.errors.HwlatError` (which the command line turns into one message and exit code 1),
never another exception.

Fuzzed here: checkpoint files (JSON lines), latency table files (Parquet and CSV), device spec
YAML, predictor ``.npz`` files (their JSON header above all) and the architecture text of every
registered search space (``space.decode``).

The default run is short (a few dozen examples per property). A longer run::

    HWLAT_FUZZ=1 python -m pytest -q tests/test_fuzz.py        # 2000 examples per property
    HWLAT_FUZZ=20000 python -m pytest -q tests/test_fuzz.py    # that many examples per property
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hwlat.errors import HwlatError  # noqa: E402


def _examples() -> int:
    raw = os.environ.get("HWLAT_FUZZ", "")
    if not raw:
        return 25
    return int(raw) if raw.isdigit() and int(raw) > 1 else 2000


_LONG = bool(os.environ.get("HWLAT_FUZZ"))
#: the default run is derandomised (the same examples every time) and reports the first failing
#: example as found; the long run explores at random and shrinks what fails
FUZZ = settings(max_examples=_examples(), deadline=None, derandomize=not _LONG, print_blob=False,
                phases=list(Phase) if _LONG else [Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: JSON values, nested a little
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
#: YAML scalars and small collections, including the values YAML spells specially
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20)
    | st.sampled_from([".nan", ".inf", "-.inf", "~", "0x10", "1e20", "yes", "", "ssh://", "adb://", "local"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


def loads_or_refuses(fn, *args, **kwargs):
    """Call ``fn``; an HwlatError is a refusal (fine), any other exception fails the property."""
    try:
        return fn(*args, **kwargs)
    except HwlatError:
        return None


class Real(dict):
    """The real artefacts (a dict) with a short repr: hypothesis prints a failing example's arguments."""

    def __repr__(self) -> str:
        return f"Real({', '.join(self)})"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A real latency table (Parquet and CSV) and a real predictor, built through the API."""
    from hwlat.latency_tables import LatencyTable, TableMetadata
    from hwlat.predictors import LookupPredictor, save_predictor
    from hwlat.spaces import get_space

    root = tmp_path_factory.mktemp("fuzz")
    nb = get_space("nb201")
    table = LatencyTable.from_rows(TableMetadata(), [(s, {"median_ms": 0.01 + 1e-4 * i})
                                                     for i, s in enumerate(nb.all_ops())])
    parquet, csv = table.save(root / "t.parquet"), table.save(root / "t.csv")
    predictor = save_predictor(LookupPredictor(space=nb, table=table).fit(), root / "p.npz")
    with np.load(predictor, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays.pop("header")))
    return Real(root=root, parquet=parquet.read_bytes(), csv=csv.read_text(), header=header, arrays=arrays)


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    b = bytearray(data)
    for pos, value in edits:
        if b:
            b[pos % len(b)] = value
    return bytes(b[:cut] if cut is not None else b)


EDITS = st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), max_size=8)
CUT = st.none() | st.integers(0, 4096)


# -- checkpoints ----------------------------------------------------------------------------------

CHECKPOINT_LINES = st.lists(
    st.one_of(
        st.text(max_size=60),
        JSON.map(lambda v: json.dumps(v)),
        st.dictionaries(st.sampled_from(["key", "hwlat_checkpoint", "job", "device", "protocol", "runtime",
                                         "latency_ms", "n"]), JSON, max_size=5).map(json.dumps),
        st.just(json.dumps({"hwlat_checkpoint": 1, "job": {"kind": "fuzz"}})),
    ), max_size=6)


@FUZZ
@given(lines=CHECKPOINT_LINES, newline_at_end=st.booleans(), raw=st.binary(max_size=40))
def test_checkpoint_files_load_or_refuse(real, lines, newline_at_end, raw):
    from hwlat.profiler.checkpoint import Checkpoint, job_header

    path = Path(real["root"]) / "measurements.jsonl"
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + (b"\n" if newline_at_end else b"") + raw
    path.write_bytes(data)
    ck = loads_or_refuses(Checkpoint, path, job_header("fuzz"))
    if ck is not None:
        ck.close()


# -- latency tables -------------------------------------------------------------------------------

@FUZZ
@given(kind=st.sampled_from(["parquet", "csv"]), edits=EDITS, cut=CUT)
def test_mutated_latency_tables_load_or_refuse(real, kind, edits, cut):
    from hwlat.latency_tables import LatencyTable

    original = real["parquet"] if kind == "parquet" else real["csv"].encode()
    path = Path(real["root"]) / f"fuzzed.{kind}"
    path.write_bytes(_mutate(original, edits, cut))
    loads_or_refuses(LatencyTable.load, path)


@FUZZ
@given(prefix=st.sampled_from([b"", b"PAR1", b"# hwlat-table "]), body=st.binary(max_size=400),
       meta=JSON, rows=st.lists(st.lists(st.text(max_size=12), max_size=6), max_size=4))
def test_arbitrary_latency_table_bytes_load_or_refuse(real, prefix, body, meta, rows):
    from hwlat.latency_tables import LatencyTable

    path = Path(real["root"]) / "arbitrary.csv"
    path.write_bytes(prefix + body)
    loads_or_refuses(LatencyTable.load, path)
    # the CSV magic line with arbitrary metadata JSON and rows
    head = real["csv"].splitlines()[1]
    text = "# hwlat-table " + json.dumps(meta) + "\n" + head + "\n" + "\n".join(",".join(r) for r in rows)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    loads_or_refuses(LatencyTable.load, path)


# -- device specs ---------------------------------------------------------------------------------

DEVICE_FIELDS = ["name", "runtime", "provider", "threads", "precision", "location", "description", "options",
                 "source", "devices"]


@FUZZ
@given(spec=st.dictionaries(st.sampled_from(DEVICE_FIELDS) | st.text(max_size=8), YAML_VALUES, max_size=8),
       text=st.text(max_size=120), raw=st.binary(max_size=60))
def test_device_yaml_loads_or_refuses(real, spec, text, raw):
    from hwlat.devices import load_device
    from hwlat.devices.registry import read_device_file

    path = Path(real["root"]) / "device.yaml"
    base = {"name": "fuzz-board", "runtime": "onnxruntime", "provider": "cpu", "threads": 1}
    for doc in (yaml.safe_dump({**base, **spec}), yaml.safe_dump(spec)):
        path.write_text(doc, encoding="utf-8")
        loads_or_refuses(read_device_file, path)
        loads_or_refuses(load_device, str(path))
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    loads_or_refuses(read_device_file, path)
    path.write_bytes(raw)
    loads_or_refuses(read_device_file, path)


# -- predictor files ------------------------------------------------------------------------------

@FUZZ
@given(changes=st.dictionaries(st.sampled_from(["format", "format_version", "kind", "space", "table_hash",
                                                 "versions", "calibration", "params"]) | st.text(max_size=8),
                               JSON, max_size=4),
       drop=st.lists(st.text(max_size=8), max_size=3), keep_arrays=st.booleans())
def test_predictor_headers_load_or_refuse(real, changes, drop, keep_arrays):
    from hwlat.predictors import load_predictor

    header = {k: v for k, v in real["header"].items() if k not in drop}
    header.update(changes)
    path = Path(real["root"]) / "fuzzed.npz"
    arrays = real["arrays"] if keep_arrays else {}
    with open(path, "wb") as fh:
        np.savez(fh, header=np.array(json.dumps(header)), **arrays)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loads_or_refuses(load_predictor, path)


@FUZZ
@given(header=st.text(max_size=80) | JSON.map(json.dumps), edits=EDITS, cut=CUT)
def test_predictor_files_load_or_refuse(real, header, edits, cut):
    from hwlat.predictors import load_predictor

    path = Path(real["root"]) / "raw.npz"
    with open(path, "wb") as fh:
        np.savez(fh, header=np.array(header, dtype=str), **real["arrays"])
    data = path.read_bytes()
    loads_or_refuses(load_predictor, path)
    path.write_bytes(_mutate(data, edits, cut))
    loads_or_refuses(load_predictor, path)


# -- architecture texts ---------------------------------------------------------------------------

def _spaces():
    from hwlat.registry import SPACES

    return SPACES.names()


NB201_PIECES = st.sampled_from(["|", "+", "~", "0", "1", "2", "3", "-1", "none", "skip_connect", "nor_conv_1x1",
                                "nor_conv_3x3", "avg_pool_3x3", " ", "\n", "\udcff"])
ARCH_KEYS = st.sampled_from(["d", "e", "ks", "r", "w", "x"]) | st.text(max_size=4)
ARCH_JSON = st.dictionaries(ARCH_KEYS, st.integers(-10, 300) | st.lists(st.integers(-10, 10), max_size=22)
                            | st.floats() | st.text(max_size=4) | st.none(), max_size=5)


@pytest.mark.parametrize("name", _spaces())
@FUZZ
@given(text=st.text(max_size=200), pieces=st.lists(NB201_PIECES, max_size=40), obj=ARCH_JSON,
       genes=st.lists(st.integers(-3, 30), max_size=30))
def test_architecture_texts_decode_or_refuse(name, text, pieces, obj, genes):
    from hwlat.spaces import get_space

    space = get_space(name)
    for t in (text, "".join(pieces), json.dumps(obj), json.dumps(genes)):
        arch = loads_or_refuses(space.decode, t)
        if arch is not None:  # what decodes encodes back to something that decodes to the same
            assert space.encode(space.decode(space.encode(arch))) == space.encode(arch)
    example = space.example()
    for cut in range(0, len(example), max(1, len(example) // 7)):
        loads_or_refuses(space.decode, example[:cut])
