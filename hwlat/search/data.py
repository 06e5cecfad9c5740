"""Image datasets for training a supernet: scikit-learn's bundled digits, array files, image folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwlat._optional import import_optional
from hwlat.errors import InputError

__all__ = ["load_dataset"]

_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _torch() -> Any:
    return import_optional("torch", "loading a training dataset")


def _to_nchw(x: np.ndarray, where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise InputError(f"{where}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3, "
                         f"got shape {x.shape}")
    return x.astype(np.float32)


def _read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import zipfile

    try:
        return _load_arrays(path)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        if "pickle" in str(exc):
            why = "it holds Python objects (pickled data), which hwlat does not load"
        elif isinstance(exc, OSError) and exc.strerror:
            why = f"it cannot be read ({exc.strerror})"
        else:
            why = "it cannot be read as NumPy arrays (damaged, or another kind of file)"
        raise InputError(f"dataset {path}: {why}; give an .npz with arrays 'x' and 'y', or a folder with x.npy "
                         "and y.npy") from None


def _load_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            xk = next((k for k in ("x", "X", "images", "data") if k in z.files), None)
            yk = next((k for k in ("y", "Y", "labels", "targets") if k in z.files), None)
            if xk is None or yk is None:
                raise InputError(f"{path} must hold an image array 'x' and a label array 'y' (found {z.files})")
            return z[xk], z[yk]
    xs, ys = path / "x.npy", path / "y.npy"
    return np.load(xs, allow_pickle=False), np.load(ys, allow_pickle=False)


def _read_image_folder(path: Path) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    pil = import_optional("PIL.Image", "reading an image-folder dataset")
    classes = sorted(d.name for d in path.iterdir() if d.is_dir())
    if len(classes) < 2:
        raise InputError(f"{path}: an image-folder dataset needs one sub-folder per class (at least 2), "
                         f"found {len(classes)}")
    images, labels = [], []
    for ci, c in enumerate(classes):
        files = sorted(f for f in (path / c).iterdir() if f.suffix.lower() in _IMAGE_EXT)
        for f in files:
            with pil.open(f) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
            labels.append(ci)
    if not images:
        raise InputError(f"{path}: no images ({', '.join(_IMAGE_EXT)}) in the class sub-folders")
    return images, np.asarray(labels), classes


def load_dataset(dataset: Any = "digits", *, input_size: int = 32) -> tuple[np.ndarray, np.ndarray, str]:
    """Images ``(N, 3, input_size, input_size)`` float32 (standardised), integer labels, and a name.

    ``dataset``: ``"digits"`` (scikit-learn's bundled 8x8 digits, no download), a ``.npz`` file with
    arrays ``x`` (images) and ``y`` (labels), a folder with ``x.npy`` and ``y.npy``, a folder of
    class sub-folders of images (needs Pillow), or a tuple ``(x, y)`` of arrays. Images are
    resized (bilinear) to ``input_size``; grey images are repeated to 3 channels.
    """
    torch = _torch()
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 8:
        raise InputError(f"input_size must be an integer >= 8, got {input_size!r}")
    if isinstance(dataset, tuple) and len(dataset) == 2:
        x, y, name = _to_nchw(dataset[0], "dataset"), np.asarray(dataset[1]), "arrays"
        images = None
    elif dataset == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y, name, images = d.images.astype(np.float32)[:, None] / 16.0, d.target, "digits", None
    else:
        p = Path(str(dataset)).expanduser()
        hint = ("give 'digits', a .npz file with arrays x and y, a folder with x.npy and y.npy, "
                "or a folder of class sub-folders of images")
        if not p.is_dir():  # a file: it must be one (a pipe or a device would block np.load)
            from hwlat._files import check_input_file

            check_input_file(p, "dataset", fix=hint)
        name = p.name
        images = None
        if p.suffix == ".npz" or (p.is_dir() and (p / "x.npy").is_file()):
            raw_x, y = _read_arrays(p)
            x = _to_nchw(raw_x, str(p))
            if x.max() > 2.0:  # 0..255 images
                x = x / 255.0
        elif p.is_dir():
            images, y, _classes = _read_image_folder(p)
            x = None
        else:
            raise InputError(f"cannot read dataset {p}; {hint}")
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"labels must be a 1-D integer array, got shape {y.shape} of {y.dtype}")
    _, y = np.unique(y, return_inverse=True)
    size = (input_size, input_size)
    f = torch.nn.functional
    if images is not None:  # a list of (H, W, 3) arrays of different sizes
        out = [f.interpolate(torch.from_numpy(im.transpose(2, 0, 1).copy())[None], size=size, mode="bilinear",
                             align_corners=False) for im in images]
        t = torch.cat(out)
    else:
        t = f.interpolate(torch.from_numpy(np.ascontiguousarray(x)), size=size, mode="bilinear", align_corners=False)
    if t.shape[0] != y.shape[0]:
        raise InputError(f"dataset {name}: {t.shape[0]} images but {y.shape[0]} labels")
    if t.shape[0] < 20:
        raise InputError(f"dataset {name} has {t.shape[0]} images; a search needs at least 20")
    if t.shape[1] == 1:
        t = t.repeat(1, 3, 1, 1)
    t = (t - t.mean(dim=(0, 2, 3), keepdim=True)) / t.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return t.numpy().astype(np.float32), y.astype(np.int64), name
