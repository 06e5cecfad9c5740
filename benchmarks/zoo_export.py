"""Export torchvision model-zoo architectures (random init, no weights) to ONNX, batch 1.

Runs in the benchmark's own environment (torchvision needs its matching torch)::

    python -m venv .zoo && .zoo/bin/pip install torch==2.14.1 torchvision==0.29.1 onnx
    .zoo/bin/python benchmarks/zoo_export.py -o benchmarks/out/unseen/models [--models resnet18,vit_b_16]

Each model becomes ``NAME.onnx`` (opset 17, input ``1x3xRxR`` with R the model's native
resolution, 224 unless the architecture needs another), written to a temporary file and
renamed; existing files are kept, so an interrupted export resumes. A ``models.json`` beside
them records each model's parameters, resolution and the torch/torchvision versions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

#: the zoo: CNN families and transformers / hybrids, as named by torchvision.models
ZOO: tuple[str, ...] = (
    "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "mnasnet0_5", "mnasnet1_0",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_v2_s",
    "regnet_x_400mf", "regnet_y_400mf", "regnet_y_800mf",
    "squeezenet1_0", "squeezenet1_1",
    "densenet121", "googlenet",
    "convnext_tiny",
    "vit_b_16", "vit_b_32",
    "swin_t", "swin_v2_t",
    "maxvit_t",
)

#: resolutions other than 224 that an architecture requires
_RESOLUTION = {"efficientnet_b1": 240, "efficientnet_v2_s": 384}


def export(name: str, out: Path, opset: int) -> dict:
    import torch
    import torchvision

    res = _RESOLUTION.get(name, 224)
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    n_params = sum(p.numel() for p in model.parameters())
    path = out / f"{name}.onnx"
    if not path.exists():
        tmp = path.with_suffix(".onnx.tmp")
        # with grad enabled: under no_grad, eval-mode attention takes torch's fused fast path
        # (aten::_native_multi_head_attention), which has no ONNX export
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(1, 3, res, res),), str(tmp), dynamo=False,
                              opset_version=opset, input_names=["input"], output_names=["logits"])
        os.replace(tmp, path)
    return {"name": name, "file": path.name, "resolution": res, "params": int(n_params),
            "torch": torch.__version__, "torchvision": torchvision.__version__, "opset": opset}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", type=Path, required=True, help="folder for the .onnx files")
    ap.add_argument("--models", default=",".join(ZOO), help="comma-separated torchvision model names")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    index_path = args.out / "models.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    for i, name in enumerate(names, 1):
        t0 = time.perf_counter()
        try:
            index[name] = export(name, args.out, args.opset)
        except Exception as exc:  # noqa: BLE001 - report and go on with the others
            print(f"[{i}/{len(names)}] {name}: export failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        print(f"[{i}/{len(names)}] {name}: {index[name]['params'] / 1e6:.1f} M params, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        tmp = index_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
        os.replace(tmp, index_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
