"""The accuracy files ``--accuracy`` names: an unknown dataset of an existing file is said to be a
dataset (with those the file has), and the file is read like every other input."""

from __future__ import annotations

import os

import pytest

from hwlat.cli import main
from hwlat.errors import InputError
from hwlat.search import get_space
from hwlat.search.accuracy import make_accuracy


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


def _csv(tmp_path, nb201, columns=("cifar10_test_acc", "cifar100_test_acc")):
    path = tmp_path / "acc.csv"
    rows = [f"{i},{nb201.encode(a)}," + ",".join(["90.5"] * len(columns)) for i, a in enumerate(nb201.sample(0, 5))]
    path.write_text(",".join(["index", "arch_str", *columns]) + "\n" + "\n".join(rows) + "\n")
    return path


def test_an_unknown_dataset_lists_the_datasets_of_the_file(tmp_path, nb201, capsys):
    path = _csv(tmp_path, nb201)
    with pytest.raises(InputError) as info:
        make_accuracy(f"nb201-csv:{path}:mnist", nb201)
    msg = str(info.value)
    assert "unknown NAS-Bench-201 dataset 'mnist'" in msg and "has accuracies for: cifar10, cifar100" in msg
    assert "not found" not in msg and "does not exist" not in msg
    assert make_accuracy(f"nb201-csv:{path}:cifar100", nb201).dataset == "cifar100"
    assert main(["search", "--device", "cpu-ort", "--space", "nb201", "--accuracy", f"nb201-csv:{path}:mnist",
                 "--budget", "1", "-o", str(tmp_path / "out")]) == 1
    assert "unknown NAS-Bench-201 dataset 'mnist'" in capsys.readouterr().err


def test_a_file_without_accuracy_columns_says_so(tmp_path, nb201):
    path = _csv(tmp_path, nb201, columns=("svhn_acc",))
    with pytest.raises(InputError, match="has no accuracy column of any"):
        make_accuracy(f"nb201-csv:{path}:mnist", nb201)


def test_a_missing_file_a_folder_or_binary_bytes(tmp_path, nb201):
    with pytest.raises(InputError, match="nope.csv does not exist"):
        make_accuracy(f"nb201-csv:{tmp_path / 'nope.csv'}:cifar10", nb201)
    with pytest.raises(InputError, match="is a folder, not a file"):
        make_accuracy(f"nb201-csv:{tmp_path}", nb201)
    path = tmp_path / "bin.csv"
    path.write_bytes(os.urandom(64) + b"\xff")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        make_accuracy(f"nb201-csv:{path}", nb201)


def test_a_dataset_that_is_a_pipe_or_missing(tmp_path):
    from hwlat.search.data import load_dataset

    os.mkfifo(tmp_path / "d.npz")
    with pytest.raises(InputError, match=r"dataset .*d.npz is a pipe \(FIFO\)"):
        load_dataset(tmp_path / "d.npz")  # refused at once: np.load would wait for a writer
    with pytest.raises(InputError, match="dataset .*none.npz does not exist; give 'digits'"):
        load_dataset(tmp_path / "none.npz")
