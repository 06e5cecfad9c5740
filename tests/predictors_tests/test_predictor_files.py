"""What loading a predictor file refuses, with one message naming the file: files that are not
predictor files, headers that are not what hwlat writes, a predictor of the wrong kind for the
command (a kernel regressor given as a space's predictor), paths that are not files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hwlat.cli import main
from hwlat.errors import InputError
from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.predictors import LookupPredictor, load_predictor, save_predictor
from hwlat.predictors.kernels import KernelRegressor
from hwlat.predictors.sampling import sample_kernels
from hwlat.spaces import get_space

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def _table():
    nb = get_space("nb201")
    md = TableMetadata(device={"name": "synthetic"}, runtime="onnxruntime", threads=1, overhead_ms=0.01)
    return LatencyTable.from_rows(md, [(s, {"latency_ms": 0.01 + s.flops * 1e-8}) for s in nb.all_ops()])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A real lookup predictor file of NB201 and its header and arrays."""
    path = tmp_path_factory.mktemp("pred") / "p.npz"
    save_predictor(LookupPredictor(space=get_space("nb201"), table=_table()).fit(), path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return path, json.loads(str(arrays.pop("header"))), arrays


def _write(path, header, arrays):
    np.savez(path, **({} if header is None else {"header": np.array(header)}), **arrays)
    return path


@pytest.mark.parametrize("change, match", [
    (lambda h: None, "no JSON header"),
    (lambda h: "{not json", "no JSON header"),
    (lambda h: json.dumps([1, 2]), "its header is a JSON list, not an object"),
    (lambda h: json.dumps({**h, "format": "other"}), "format 'other', expected 'hwlat-predictor'"),
    (lambda h: json.dumps({**h, "format_version": "one"}), "format_version is 'one'"),
    (lambda h: json.dumps({**h, "kind": ["lookup"]}), "unknown kind"),
    (lambda h: json.dumps({**h, "versions": "numpy"}), None),  # ignored: only a warning reads it
    (lambda h: json.dumps({k: v for k, v in h.items() if k != "part_names"}), "content is malformed .*part_names"),
    (lambda h: json.dumps({**h, "space": "nb201"}), "content is malformed"),
    (lambda h: json.dumps({**h, "coef": {"a": 1}}), "content is malformed"),
])
def test_a_wrong_header_is_one_message_naming_the_file(saved, tmp_path, capsys, change, match):
    _, header, arrays = saved
    path = _write(tmp_path / "bad.npz", change(header), arrays)
    if match is None:
        load_predictor(path)
        return
    with pytest.raises(InputError, match=match) as info:
        load_predictor(path)
    assert str(path) in str(info.value)
    assert main(["query", "--space", "nb201", "--predictor", str(path), ARCH]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hwlat: error: ") and str(path) in err and "Traceback" not in err


def test_an_npz_without_arrays_of_a_predictor(tmp_path):
    path = _write(tmp_path / "x.npz", None, {"a": np.arange(3)})
    with pytest.raises(InputError, match=r"x.npz is an .npz file but not an hwlat predictor file"):
        load_predictor(path)
    (tmp_path / "y.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match=r"y.npz is not an hwlat predictor file \(.npz\)"):
        load_predictor(tmp_path / "y.npz")


def test_a_kernel_regressor_is_not_a_predictor_of_architectures(tmp_path, capsys):
    specs = sample_kernels("conv", 24, seed=0, ranges={"c_max": 32, "hw": (7, 14), "hw_max": 14, "max_flops": 1e7})
    md = TableMetadata(device={"name": "synthetic"}, runtime="onnxruntime", threads=1)
    table = LatencyTable.from_rows(md, [(s, {"latency_ms": 0.01 + s.flops * 1e-8}) for s in specs])
    path = save_predictor(KernelRegressor().fit(table), tmp_path / "kernels.npz")
    assert main(["query", "--space", "nb201", "--predictor", str(path), ARCH]) == 1
    err = capsys.readouterr().err
    assert "kernels.npz is a kernel regressor" in err and "--regressor" in err
    assert "a query of nb201 architectures needs a lookup predictor" in err
    with pytest.raises(InputError, match="kernel regressor .* needs a graph predictor of ONNX models"):
        load_predictor(path, kinds=("graph",), use="an ONNX query")
    assert isinstance(load_predictor(path, kinds=("kernel",)), KernelRegressor)


def test_a_folder_or_a_pipe_is_not_called_missing(tmp_path):
    with pytest.raises(InputError, match="predictor file .* is a folder, not a file"):
        load_predictor(tmp_path)
    os.mkfifo(tmp_path / "p.npz")
    with pytest.raises(InputError, match=r"is a pipe \(FIFO\)"):
        load_predictor(tmp_path / "p.npz")  # refused at once: opening it would wait for a writer
    with pytest.raises(InputError, match="does not exist"):
        load_predictor(tmp_path / "none.npz")


def test_latencies_that_are_not_finite_are_refused(saved, tmp_path):
    _, header, arrays = saved
    part = dict(arrays)
    part["part0_table"] = part["part0_table"].copy()
    part["part0_table"].flat[0] = np.nan
    path = _write(tmp_path / "nan.npz", json.dumps(header), part)
    with pytest.raises(InputError, match=r"nan.npz: the latencies of part 0 hold 1 value\(s\) that are not finite"):
        load_predictor(path)
