"""The files the commands read, hostile ones included: devices, pipes without a writer, folders,
binary bytes, files too large, names that are not UTF-8, ops and model inputs too large for the
machine's memory. Each is exit code 1 and one message naming the file (and line)."""

from __future__ import annotations

import io
import os
import threading

import pytest

from hwlat import _files
from hwlat.cli import main
from hwlat.errors import InputError
from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.spaces import get_space


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    nb = get_space("nb201")
    path = tmp_path_factory.mktemp("table") / "t.parquet"
    LatencyTable.from_rows(TableMetadata(), [(s, {"latency_ms": 0.01}) for s in nb.all_ops()]).save(path)
    return str(path)


def _fails(capsys, argv, *needles):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "hwlat: error: " in err and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def test_a_device_is_refused_without_reading_it(table, capsys):
    _fails(capsys, ["query", "--space", "nb201", "--table", table, "--archs-file", "/dev/zero"],
           "architecture file /dev/zero is a character device, not a file")
    _fails(capsys, ["profile", "--device", "cpu-ort", "--ops", "/dev/zero", "-o", "unused"],
           "op list /dev/zero is a character device")


def test_a_pipe_without_a_writer_is_given_up_on(table, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_files, "PIPE_IDLE_S", 0.3)
    fifo = tmp_path / "archs"
    os.mkfifo(fifo)
    _fails(capsys, ["query", "--space", "nb201", "--table", table, "--archs-file", str(fifo)],
           f"architecture file {fifo} is a pipe and nothing was written to it for 0.3 s")


def test_a_pipe_with_a_writer_is_read(table, tmp_path, capsys):
    nb = get_space("nb201")
    fifo = tmp_path / "archs"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "w") as fh:
            fh.write(nb.example() + "\n")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert main(["query", "--space", "nb201", "--table", table, "--archs-file", str(fifo)]) == 0
    finally:
        writer.join(10)
    assert nb.example() in capsys.readouterr().out


def test_a_folder_is_not_called_missing(table, tmp_path, capsys):
    _fails(capsys, ["query", "--space", "nb201", "--table", table, "--archs-file", str(tmp_path)],
           f"architecture file {tmp_path} is a folder, not a file")
    _fails(capsys, ["profile", "--device", "cpu-ort", "--ops", str(tmp_path), "-o", "unused"],
           "is a folder, not a file")


def test_binary_bytes_are_not_text(table, tmp_path, capsys):
    path = tmp_path / "archs.txt"
    path.write_bytes(b"# archs\n" + bytes(range(128, 256)))
    _fails(capsys, ["query", "--space", "nb201", "--table", table, "--archs-file", str(path)],
           "is not UTF-8 text: byte 0x80 on line 2")
    _fails(capsys, ["profile", "--device", "cpu-ort", "--ops", str(path), "-o", "unused"],
           "op list", "not UTF-8 text")


def test_a_name_that_is_not_utf8(table, tmp_path, capsys):
    missing = str(tmp_path / os.fsdecode(b"\xffarchs.txt"))
    _fails(capsys, ["query", "--space", "nb201", "--table", table, "--archs-file", missing],
           "\\xffarchs.txt does not exist")


def test_reads_are_bounded(table, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_files, "MAX_READ_BYTES", 1000)
    nb = get_space("nb201")
    path = tmp_path / "archs.txt"
    path.write_text((nb.example() + "\n") * 20)
    _fails(capsys, ["query", "--space", "nb201", "--table", table, "--archs-file", str(path)],
           "is larger than", "split it")
    monkeypatch.setattr("sys.stdin", io.StringIO((nb.example() + "\n") * 20))
    _fails(capsys, ["query", "--space", "nb201", "--table", table, "--archs-file", "-"],
           "architecture file from standard input is larger than")


def test_an_op_too_large_for_memory_is_refused_with_its_line(tmp_path, capsys):
    ops = tmp_path / "ops.txt"
    ops.write_text("# mine\ngap:8x4x4\nconv:3x100000x100000:cout=16,k=3\n")
    _fails(capsys, ["profile", "--device", "cpu-ort", "--ops", str(ops), "-o", str(tmp_path / "out")],
           f"{ops}:3: op conv:3x100000x100000", "(input 3x100000x100000) needs about", "of memory")
    assert not (tmp_path / "out").exists()  # refused before anything was measured
    ops.write_text("gap:8x4x4\nconv:garbage\n")
    _fails(capsys, ["profile", "--device", "cpu-ort", "--ops", str(ops), "-o", str(tmp_path / "out")],
           f"{ops}:2: malformed input shape")


def test_a_model_input_too_large_for_memory_is_refused(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 100000, 100000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 100000, 100000])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "huge", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "huge.onnx")
    _fails(capsys, ["measure", str(tmp_path / "huge.onnx"), "--device", "cpu-ort", "--quick"],
           "model input 'x' of shape 1x3x100000x100000 needs about", "give a model with smaller inputs")


def test_a_model_that_is_a_pipe_or_a_folder(tmp_path, capsys):
    fifo = tmp_path / "m.onnx"
    os.mkfifo(fifo)
    _fails(capsys, ["measure", str(fifo), "--device", "cpu-ort"], f"model file {fifo} is a pipe (FIFO)")
    _fails(capsys, ["profile-model", str(fifo), "--device", "cpu-ort"], f"model file {fifo} is a pipe (FIFO)")
    (tmp_path / "d.onnx").mkdir()
    _fails(capsys, ["measure", str(tmp_path / "d.onnx"), "--device", "cpu-ort"], "is a folder, not a file")


def test_read_input_text_names_the_line_of_a_bad_byte(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes("é\nok\n\xff".encode("latin-1"))
    with pytest.raises(InputError, match="byte 0xe9 on line 1"):
        _files.read_input_text(path, "list")
    path.write_bytes("\ufeffok\n".encode())
    assert _files.read_input_text(path, "list") == "ok\n"  # a byte-order mark is dropped


def test_standard_input_that_is_closed(table, capsys, monkeypatch):
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stdin", closed)
    _fails(capsys, ["query", "--space", "nb201", "--table", table, "--archs-file", "-"],
           "'-' means standard input, and this process has none")


def test_adapt_reads_its_measurements_like_every_input(table, tmp_path, capsys):
    argv = ["adapt", "--space", "nb201", "--reference", table, "-o", str(tmp_path / "p.npz"), "--measurements"]
    _fails(capsys, [*argv, str(tmp_path)], f"measurement file {tmp_path} is a folder, not a file")
    (tmp_path / "m.csv").write_bytes(b"arch,latency_ms\n\xff\n")
    _fails(capsys, [*argv, str(tmp_path / "m.csv")], "is not UTF-8 text: byte 0xff on line 2")
