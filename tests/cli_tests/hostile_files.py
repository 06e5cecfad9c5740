"""The files the hostile-input matrix (:mod:`tests.cli_tests.hostile`) feeds the ``hwlat`` command:
real artefacts (a profiled latency table, tables and predictors built through the API, an ONNX and
a TFLite model) and what is made of them (empty, truncated, garbage, wrong kind, crafted).

:func:`build` writes them all into one folder and returns their paths by name; a case's argv
refers to them as ``{name}``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import pickle
from pathlib import Path

import numpy as np

#: the op keys the real table is profiled on (two cheap NB201 ops)
PROFILED_OPS = (
    "pool:16x32x32:k=3,mode=avg,pad=1,s=1",
    "act:16x32x32:fn=relu",
)

#: a non-UTF-8 byte in file names (``os.fsdecode`` turns it into a lone surrogate)
NON_UTF8 = b"\xff\xfe"

#: the file whose existence shows that a crafted pickle was loaded
PWNED = "pwned-marker"


class _Payload:
    """Unpickling this creates the marker file: a loader that unpickles has run foreign code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: max(1, int(len(data) * fraction))])
    return dst


def _garbage(n: int = 4096, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _profile_table(root: Path) -> Path:
    """A real latency table: :data:`PROFILED_OPS` measured with ``hwlat profile`` (quick protocol)."""
    from hwlat.cli import main

    ops = root / "profiled-ops.txt"
    ops.write_text("\n".join(PROFILED_OPS) + "\n")
    out = root / "profiled"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["profile", "--device", "cpu-ort", "--ops", str(ops), "-o", str(out), "--quick",
                     "--no-progress"])
    if code != 0:
        raise RuntimeError(f"profiling {ops} failed with exit code {code}")
    return out / "table.parquet"


def _api_tables(root: Path, profiled: Path) -> dict[str, Path]:
    """Tables built through the API from the profiled table's metadata: the whole NB201 and
    ProxylessNAS spaces, the same rows under another device, and sampled conv kernels."""
    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors.sampling import kernel_specs
    from hwlat.spaces import get_space

    real = LatencyTable.load(profiled)
    meta = real.metadata
    nb = get_space("nb201")
    rows = [(s, {"median_ms": 0.005 + 1e-5 * s.flops / 1e3}) for s in nb.all_ops()]
    out = {"nbtable": root / "nb201.parquet", "ktable": root / "kernels-table.parquet",
           "othertable": root / "other-device.parquet", "pxtable": root / "proxyless.parquet"}
    LatencyTable.from_rows(meta.copy(), rows).save(out["nbtable"])
    px = [(s, {"median_ms": 0.005 + 1e-5 * s.flops / 1e3}) for s in get_space("proxyless").all_ops()]
    LatencyTable.from_rows(meta.copy(), px).save(out["pxtable"])
    other = meta.copy()
    other.device = {**other.device, "name": "another-board", "threads": 4}
    LatencyTable(other, real.df.copy()).save(out["othertable"])
    specs = kernel_specs(["conv"], 24, seed=0)
    krows = [(s, {"median_ms": 0.01 + s.flops / 1e9}) for s in specs]
    LatencyTable.from_rows(meta.copy(), krows).save(out["ktable"])
    return out


def _predictors(root: Path, nbtable: Path, ktable: Path) -> dict[str, Path]:
    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors import LookupPredictor, save_predictor
    from hwlat.predictors.kernels import KernelRegressor
    from hwlat.spaces import get_space

    out = {"predictor": root / "nb201-predictor.npz", "kernels_npz": root / "kernels.npz"}
    save_predictor(LookupPredictor(space=get_space("nb201"), table=LatencyTable.load(nbtable)).fit(),
                   out["predictor"])
    save_predictor(KernelRegressor(estimator="et", random_state=0).fit(LatencyTable.load(ktable)),
                   out["kernels_npz"])
    return out


def _models(root: Path) -> dict[str, Path]:
    from hwlat.ops import OpSpec, build_graph
    from hwlat.ops.onnx_emit import graph_to_onnx
    from hwlat.ops.tflite_emit import to_tflite

    spec = OpSpec.from_key(PROFILED_OPS[0])
    onnx_path, tflite_path = root / "model.onnx", root / "model.tflite"
    onnx_path.write_bytes(graph_to_onnx(build_graph(spec)).SerializeToString())
    tflite_path.write_bytes(to_tflite(spec))
    return {"onnx": onnx_path, "tflite": tflite_path}


def _nb201_csvs(root: Path) -> dict[str, Path]:
    """A NAS-Bench-201 accuracy CSV of every cell (made-up accuracies) and an adapt measurement CSV."""
    from hwlat.spaces import get_space

    nb = get_space("nb201")
    sizes = nb.gene_sizes()
    rng = np.random.default_rng(0)
    lines = ["index,arch_str,cifar10_test_acc,cifar100_test_acc,imagenet16_120_test_acc"]
    for i, genes in enumerate(itertools.product(*(range(n) for n in sizes))):
        a, b, c = rng.uniform(10, 95, 3)
        lines.append(f"{i},{nb.encode(nb.from_genes(np.array(genes)))},{a:.2f},{b:.2f},{c:.2f}")
    acc = root / "nb201-accuracy.csv"
    acc.write_text("\n".join(lines) + "\n")
    accpy = root / "accuracy.py"  # quicker to load than the CSV: what most search cases use
    accpy.write_text("def accuracy(archs):\n    return [50.0 + sum(map(ord, str(a))) % 40 for a in archs]\n\n\n"
                     "def nan_accuracy(archs):\n    return [float('nan')] * len(archs)\n")
    meas = root / "measurements.csv"
    archs = [nb.encode(a) for a in nb.sample(5, 6)]
    meas.write_text("arch,latency_ms\n" + "".join(f"{a},{1.0 + 0.1 * i:.3f}\n" for i, a in enumerate(archs)))
    return {"acc": acc, "accpy": accpy, "meas": meas, "arch": archs[0]}  # type: ignore[dict-item]


def _pickle_npz(path: Path, marker: Path, *, with_header: bool) -> Path:
    """An .npz whose member is a pickle that would create ``marker`` if loaded."""
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        if with_header:
            buf = io.BytesIO()
            np.save(buf, np.array(json.dumps({"format": "hwlat-predictor", "format_version": 1,
                                              "kind": "lookup"})))
            z.writestr("header.npy", buf.getvalue())
        buf = io.BytesIO()
        np.save(buf, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
        z.writestr("weights.npy" if with_header else "header.npy", buf.getvalue())
    return path


def _npz_with_header(path: Path, header: object) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, header=np.array(header if isinstance(header, str) else json.dumps(header)))
    return path


def _device_yamls(d: Path, marker: Path) -> dict[str, Path]:
    base = "name: board\nruntime: onnxruntime\nprovider: cpu\nthreads: 1\nprecision: fp32\nlocation: local\n"
    texts = {
        "dev_ok": base,
        "dev_threads_neg": base.replace("threads: 1", "threads: -1"),
        "dev_threads_str": base.replace("threads: 1", "threads: abc"),
        "dev_threads_huge": base.replace("threads: 1", "threads: 100000000000000000000"),
        "dev_threads_nan": base.replace("threads: 1", "threads: .nan"),
        "dev_threads_float": base.replace("threads: 1", "threads: 1.5"),
        "dev_runtime": base.replace("runtime: onnxruntime", "runtime: nosuchruntime"),
        "dev_provider": base.replace("provider: cpu", "provider: nosuchprovider"),
        "dev_precision": base.replace("precision: fp32", "precision: fp3"),
        "dev_location": base.replace("location: local", "location: bogus://somewhere"),
        "dev_ssh_empty": base.replace("location: local", "location: 'ssh://'"),
        "dev_ssh_port": base.replace("location: local", "location: ssh://pi@host:99999"),
        "dev_options_list": base + "options: [1, 2]\n",
        "dev_unknown_field": base + "colour: blue\n",
        "dev_name_list": base.replace("name: board", "name: [a, b]"),
        "dev_list": "- 1\n- 2\n",
        "dev_scalar": "just a string\n",
        "dev_tag": f"!!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{marker}']]\n",
        "dev_tag_field": base.replace("name: board", "name: !!python/object/apply:os.getcwd []"),
        "dev_truncated": base[: len(base) // 2] + "\n  - [unclosed\n",
        "dev_bad_yaml": "name: board\nruntime: [onnxruntime\nthreads: {1\n",
        "dev_multi": base + "---\n" + base.replace("board", "board2"),
        "dev_anchor_bomb": "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi")) + "name: *i\n",
        "dev_empty": "",
    }
    out = {}
    for name, text in texts.items():
        p = d / f"{name}.yaml"
        p.write_text(text)
        out[name] = p
    p = d / "dev_bytes.yaml"
    p.write_bytes(b"name: b\xff\xfeoard\nruntime: onnxruntime\n")
    out["dev_bytes"] = p
    return out


def build(root: Path) -> dict[str, str]:
    """Write every artefact and bad file into ``root``; their paths (str) by placeholder name."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / PWNED
    f: dict[str, Path | str] = {"root": root, "pwned": marker}
    table = _profile_table(root)
    f["table"] = table
    f.update(_api_tables(root, table))
    f.update(_predictors(root, Path(f["nbtable"]), Path(f["ktable"])))
    f.update(_models(root))
    f.update(_nb201_csvs(root))
    from hwlat.latency_tables import LatencyTable

    f["table_csv"] = LatencyTable.load(table).save(root / "table.csv")

    bad = root / "bad"
    bad.mkdir()
    f["missing"] = bad / "does-not-exist.parquet"
    f["missing_dir"] = bad / "no-such-folder"
    f["folder"] = bad / "a-folder.parquet"
    Path(f["folder"]).mkdir()
    for ext in ("parquet", "csv", "npz", "onnx", "tflite", "json", "jsonl", "yaml", "txt", "pth"):
        (bad / f"empty.{ext}").write_bytes(b"")
        f[f"empty_{ext}"] = bad / f"empty.{ext}"
        (bad / f"garbage.{ext}").write_bytes(_garbage(seed=len(ext)))
        f[f"garbage_{ext}"] = bad / f"garbage.{ext}"
    f["trunc_parquet"] = _truncate(table, bad / "truncated.parquet")
    f["trunc_parquet_tail"] = _truncate(table, bad / "truncated-tail.parquet", 0.97)
    f["trunc_csv"] = _truncate(Path(f["table_csv"]), bad / "truncated.csv", 0.6)
    f["trunc_npz"] = _truncate(Path(f["predictor"]), bad / "truncated.npz")
    f["trunc_onnx"] = _truncate(Path(f["onnx"]), bad / "truncated.onnx")
    f["trunc_tflite"] = _truncate(Path(f["tflite"]), bad / "truncated.tflite")
    # a parquet file that is not a latency table, a CSV with the magic line but no rows, wrong magic
    import pandas as pd

    pd.DataFrame({"x": [1, 2]}).to_parquet(bad / "not-a-table.parquet")
    f["foreign_parquet"] = bad / "not-a-table.parquet"
    head = Path(f["table_csv"]).read_text().splitlines()[0]
    (bad / "header-only.csv").write_text(head + "\n")
    f["header_csv"] = bad / "header-only.csv"
    csv_lines = Path(f["table_csv"]).read_text().splitlines()
    (bad / "bad-metadata.csv").write_text(head[:20] + "{not json\n" + "\n".join(csv_lines[1:]) + "\n")
    f["badmeta_csv"] = bad / "bad-metadata.csv"
    body = pd.read_csv(io.StringIO("\n".join(csv_lines[1:]) + "\n"))
    for name, value in (("nan_csv", float("nan")), ("neg_csv", -1.0), ("inf_csv", float("inf"))):
        changed = body.copy()
        changed.loc[0, ["latency_ms", "median_ms"]] = value
        dst = bad / f"{name.replace('_csv', '')}-latency.csv"
        dst.write_text(head + "\n" + changed.to_csv(index=False, lineterminator="\n"))
        f[name] = dst
    # wrong kinds under plausible names
    for name, src, ext in (("onnx_as_table", "onnx", "parquet"), ("npz_as_table", "predictor", "parquet"),
                           ("table_as_npz", "table", "npz"), ("table_as_onnx", "table", "onnx"),
                           ("onnx_as_npz", "onnx", "npz"), ("tflite_as_onnx", "tflite", "onnx"),
                           ("npz_as_yaml", "predictor", "yaml"), ("table_as_yaml", "table", "yaml"),
                           ("table_as_pth", "table", "pth"), ("onnx_as_csv", "onnx", "csv")):
        dst = bad / f"{name}.{ext}"
        dst.write_bytes(Path(f[src]).read_bytes())
        f[name] = dst
    # crafted predictor files
    f["pickle_npz"] = _pickle_npz(bad / "pickle.npz", marker, with_header=True)
    f["pickle_header_npz"] = _pickle_npz(bad / "pickle-header.npz", marker, with_header=False)
    f["npz_no_header"] = bad / "no-header.npz"
    with open(f["npz_no_header"], "wb") as fh:
        np.savez(fh, weights=np.zeros(3))
    f["npz_header_notjson"] = _npz_with_header(bad / "header-not-json.npz", "{not json")
    f["npz_header_list"] = _npz_with_header(bad / "header-list.npz", [1, 2, 3])
    f["npz_header_format"] = _npz_with_header(bad / "header-format.npz", {"format": "other"})
    f["npz_header_version"] = _npz_with_header(bad / "header-version.npz", {
        "format": "hwlat-predictor", "format_version": "abc", "kind": "lookup"})
    f["npz_header_kind"] = _npz_with_header(bad / "header-kind.npz", {
        "format": "hwlat-predictor", "format_version": 1, "kind": "nosuchkind"})
    with np.load(f["predictor"], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays.pop("header")))
    f["npz_no_arrays"] = _npz_with_header(bad / "header-no-arrays.npz", header)
    broken = {**header, "space": {"name": "nosuchspace"}} if "space" in header else {**header, "space": 7}
    f["npz_header_space"] = _npz_with_header(bad / "header-space.npz", broken)
    # a torch pickle that creates the marker (an ofa-predictor must be loaded weights-only)
    (bad / "evil.pth").write_bytes(pickle.dumps(_Payload(marker)))
    f["evil_pth"] = bad / "evil.pth"
    # op lists
    ops = bad / "ops"
    ops.mkdir()
    for name, text in (("ops_badkey", "conv:abc\n"), ("ops_unknown_kind", "nosuchkind:3x32x32\n"),
                       ("ops_zero_shape", "act:0x32x32:fn=relu\n"), ("ops_neg_shape", "act:16x-32x32:fn=relu\n"),
                       ("ops_huge_shape", "act:100000x100000x100000:fn=relu\n"), ("ops_comments", "# nothing\n\n"),
                       ("ops_bad_param", "pool:16x32x32:k=abc,mode=avg,pad=1,s=1\n")):
        (ops / f"{name}.txt").write_text(text)
        f[name] = ops / f"{name}.txt"
    for name, text in (("ops_json_dict", '{"a": 1}'), ("ops_json_trunc", '["act:16x32x32:fn=relu", "poo'),
                       ("ops_json_nums", "[1, 2, 3]"), ("ops_json_nokind", '[{"input_shape": [16, 32, 32]}]')):
        (ops / f"{name}.json").write_text(text)
        f[name] = ops / f"{name}.json"
    (ops / "ops_yaml_tag.yaml").write_text(f"!!python/object/apply:pathlib.Path.touch [!!python/object/apply:"
                                           f"pathlib.Path ['{marker}']]\n")
    f["ops_yaml_tag"] = ops / "ops_yaml_tag.yaml"
    (ops / "ops_bytes.txt").write_bytes(b"act:16x32x32:fn=relu\n\xff\xfe\xfd\n")
    f["ops_bytes"] = ops / "ops_bytes.txt"
    (ops / "ops_one.txt").write_text(PROFILED_OPS[1] + "\n")
    f["ops_one"] = ops / "ops_one.txt"
    # architecture files and measurement CSVs
    arch = bad / "archs"
    arch.mkdir()
    for name, text in (("archs_bad", "not an architecture\n"), ("archs_comments", "# only a comment\n"),
                       ("archs_trunc", "|nor_conv_3x3~0|+|nor_conv\n")):
        (arch / f"{name}.txt").write_text(text)
        f[name] = arch / f"{name}.txt"
    (arch / "archs_bytes.txt").write_bytes(b"|nor_conv_3x3~0|\xff\xfe\n")
    f["archs_bytes"] = arch / "archs_bytes.txt"
    good = str(f["arch"])
    rows = Path(f["meas"]).read_text().splitlines()[1:]
    head = "arch,latency_ms\n" + "\n".join(rows) + "\n"  # enough good rows to fit on: the bad one decides
    for name, text in (("meas_nocol", "arch,ms\n" + good + ",1.0\n"), ("meas_str", f"{head}{good},abc\n"),
                       ("meas_neg", f"{head}{good},-1.0\n"), ("meas_nan", f"{head}{good},nan\n"),
                       ("meas_inf", f"{head}{good},inf\n"), ("meas_zero", f"{head}{good},0\n"),
                       ("meas_badarch", f"{head}not-an-arch,1.0\n"), ("meas_header", "arch,latency_ms\n"),
                       ("meas_trunc", f"{head}\"{good[:10]}")):
        (arch / f"{name}.csv").write_text(text)
        f[name] = arch / f"{name}.csv"
    (arch / "meas_bytes.csv").write_bytes(b"arch,latency_ms\n\xff\xfe,1.0\n")
    f["meas_bytes"] = arch / "meas_bytes.csv"
    # NAS-Bench-201 accuracy files
    for name, text in (("acc_nocol", "arch_str,x\n"), ("acc_badarch", "arch_str,cifar10_test_acc\nnope,1\n"),
                       ("acc_header", "arch_str,cifar10_test_acc\n")):
        (bad / f"{name}.csv").write_text(text)
        f[name] = bad / f"{name}.csv"
    # OFA / ProxylessNAS YAML tables
    y = bad / "yaml"
    y.mkdir()
    lut_key = "expanded_conv-input:112x112x16-output:56x56x24-expand:64-kernel:5-stride:2-idskip:0-se:0-hs:0"
    for name, text in (("lut_ok", f"{lut_key}: {{count: 3, mean: 1.25, std: 0.1}}\n"),
                       ("lut_list", "- 1\n- 2\n"), ("lut_scalar", "hello\n"),
                       ("lut_badkey", "nosuchop-input:1x1x1: {mean: 1.0}\n"),
                       ("lut_str", f"{lut_key}: {{mean: abc}}\n"), ("lut_neg", f"{lut_key}: {{mean: -1.0}}\n"),
                       ("lut_nan", f"{lut_key}: {{mean: .nan}}\n"), ("lut_inf", f"{lut_key}: {{mean: .inf}}\n"),
                       ("lut_nomean", f"{lut_key}: {{count: 3}}\n"), ("lut_notdict", f"{lut_key}: 7\n"),
                       ("lut_trunc", f"{lut_key}: {{mean: 1.0, cou"),
                       ("lut_tag", f"!!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path "
                                   f"['{marker}']]\n")):
        (y / f"{name}.yaml").write_text(text)
        f[name] = y / f"{name}.yaml"
    (y / "lut_bytes.yaml").write_bytes(lut_key.encode() + b": {mean: 1.0}\n\xff\xfe: x\n")
    f["lut_bytes"] = y / "lut_bytes.yaml"
    # device specs, one per file, and device folders
    dev = bad / "devices"
    dev.mkdir()
    f.update(_device_yamls(dev, marker))
    for name, members in (("devdir_garbage", {"ok.yaml": Path(f["dev_ok"]).read_text(),
                                              "bad.yaml": "name: [unclosed\n"}),
                          ("devdir_dupe", {"a.yaml": Path(f["dev_ok"]).read_text(),
                                           "b.yaml": Path(f["dev_ok"]).read_text()}),
                          ("devdir_tag", {"t.yaml": Path(f["dev_tag"]).read_text()}),
                          ("devdir_threads", {"t.yaml": Path(f["dev_threads_neg"]).read_text()})):
        folder = bad / name
        folder.mkdir()
        for fname, text in members.items():
            (folder / fname).write_text(text)
        f[name] = folder
    # checkpoints in output folders that a command would resume from
    ck = bad / "checkpoints"
    ck.mkdir()
    for name, text in (("ckpt_garbage", "this is not json\n{\"key\": 1}\n"),
                       ("ckpt_noheader", '{"key": "act:16x32x32:fn=relu", "latency_ms": 1}\n{"key": "x"}\n'),
                       ("ckpt_version", '{"hwlat_checkpoint": 999, "device": {}, "protocol": {}, "runtime": {}}\n'),
                       ("ckpt_header_list", "[1, 2, 3]\n[4]\n")):
        folder = ck / name
        folder.mkdir()
        (folder / "measurements.jsonl").write_text(text)
        f[name] = folder
    folder = ck / "ckpt_bytes"
    folder.mkdir()
    (folder / "measurements.jsonl").write_bytes(b'{"hwlat_checkpoint"\xff\xfe\n\xff\n')
    f["ckpt_bytes"] = folder
    # a FIFO (reading it blocks until a writer comes: a command must not wait for one), a non-UTF-8 path
    for name in ("fifo.parquet", "fifo.onnx", "fifo.yaml", "fifo.csv", "fifo.npz", "fifo.txt"):
        os.mkfifo(bad / name)
        f[name.replace(".", "_")] = bad / name
    f["missing_onnx"] = bad / "does-not-exist.onnx"
    f["missing_npz"] = bad / "does-not-exist.npz"
    f["missing_yaml"] = bad / "does-not-exist.yaml"
    f["missing_csv"] = bad / "does-not-exist.csv"
    f["folder_onnx"] = bad / "a-folder.onnx"
    Path(f["folder_onnx"]).mkdir()
    raw = os.fsencode(bad) + b"/nonutf8-" + NON_UTF8
    f["nonutf8_missing"] = os.fsdecode(raw + b".parquet")
    Path(os.fsdecode(raw + b"-table.parquet")).write_bytes(Path(table).read_bytes())
    f["nonutf8_table"] = os.fsdecode(raw + b"-table.parquet")
    Path(os.fsdecode(raw + b".onnx")).write_bytes(_garbage(100))
    f["nonutf8_onnx"] = os.fsdecode(raw + b".onnx")
    Path(os.fsdecode(raw + b"-dev.yaml")).write_bytes(Path(f["dev_ok"]).read_bytes())
    f["nonutf8_dev"] = os.fsdecode(raw + b"-dev.yaml")
    # a file where a folder is expected
    f["file_not_dir"] = root / "profiled-ops.txt"
    return {k: str(v) for k, v in f.items()}


def fifos(files: dict[str, str]) -> list[str]:
    """The FIFOs among the built files (a watchdog opens them to unblock a reader)."""
    return [v for k, v in files.items() if k.startswith("fifo_")]
