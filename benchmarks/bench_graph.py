"""GraphPredictor on real CNN architectures: predicted vs measured end-to-end latency on cpu-ort.

The architectures are compact, faithful re-definitions (random init, eval mode, no weights
download) of ResNet-18, ResNet-50, MobileNetV2, MobileNetV3-Small/Large, MnasNet-1.0,
ShuffleNetV2 x1.0 and EfficientNet-B0, following the torchvision definitions. Each is exported
to ONNX at 224x224 (batch 1, opset 17); the distinct kernel specs of all of them are profiled on
cpu-ort with the default protocol (plus a few elementwise ops that give the fallback rule its
rate), then each model is predicted and measured end to end (``measure_model``, default protocol).

Kernels the vocabulary cannot express (the squeeze-excite gate ``x * g``, the swish ``x *
sigmoid(x)`` product, ShuffleNet's channel-shuffle Transpose and Split, activations on vectors)
are estimated by the documented fallback rule and counted in the table.

Run (about 5-10 minutes on a 2-core machine)::

    python benchmarks/bench_graph.py [-o benchmarks/out/graph] [--quick] [--models resnet18,mobilenet_v2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwlat.devices import load_device
from hwlat.ops import spec as S
from hwlat.ops.onnx_emit import torch_to_onnx
from hwlat.predictors import onnx_kernels
from hwlat.predictors.graph import GraphPredictor
from hwlat.predictors.onnx_kernels import kernel_specs_of
from hwlat.profiler.model import measure_model
from hwlat.profiler.profile import profile_ops
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.runtimes import make_runtime


def _div(v: float, d: int = 8) -> int:
    return S.make_divisible(v, d)


def cbr(cin: int, cout: int, k: int, s: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU
        ) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# -- ResNet ---------------------------------------------------------------------------------------------

class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, s: int) -> None:
        super().__init__()
        self.a = cbr(cin, planes, 3, s)
        self.b = cbr(planes, planes, 3, 1, act=None)
        self.down = cbr(cin, planes, 1, s, act=None) if s != 1 or cin != planes else None

    def forward(self, x):
        return torch.relu(self.b(self.a(x)) + (x if self.down is None else self.down(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, s: int) -> None:
        super().__init__()
        out = planes * 4
        self.a = cbr(cin, planes, 1)
        self.b = cbr(planes, planes, 3, s)
        self.c = cbr(planes, out, 1, act=None)
        self.down = cbr(cin, out, 1, s, act=None) if s != 1 or cin != out else None

    def forward(self, x):
        return torch.relu(self.c(self.b(self.a(x))) + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self, block: type, layers: list[int]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], 64
        for i, n in enumerate(layers):
            planes = 64 * 2 ** i
            for j in range(n):
                blocks.append(block(cin, planes, 2 if j == 0 and i > 0 else 1))
                cin = planes * block.expansion
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, 1000)

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1)
        return self.fc(torch.flatten(x, 1))


# -- MobileNetV2 / MnasNet ------------------------------------------------------------------------------

class IR(nn.Module):
    """Inverted residual: [1x1 expand] -> kxk depthwise -> 1x1 project (+ residual)."""

    def __init__(self, cin: int, cout: int, k: int, s: int, t: float, act: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        mid = round(cin * t)
        layers = [] if mid == cin else [cbr(cin, mid, 1, act=act)]
        layers += [cbr(mid, mid, k, s, groups=mid, act=act), cbr(mid, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.res = s == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.res else self.body(x)


class MobileNetV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
               (6, 320, 1, 1)]
        layers: list[nn.Module] = [cbr(3, 32, 3, 2, act=nn.ReLU6)]
        cin = 32
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(IR(cin, c, 3, s if i == 0 else 1, t))
                cin = c
        layers.append(cbr(cin, 1280, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class MnasNet(nn.Module):
    """MnasNet-1.0 (torchvision's definition, no squeeze-excite)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [cbr(3, 32, 3, 2), cbr(32, 32, 3, 1, groups=32), cbr(32, 16, 1, act=None)]
        cin = 16
        for cout, k, s, t, n in [(24, 3, 2, 3, 3), (40, 5, 2, 3, 3), (80, 5, 2, 6, 3), (96, 3, 1, 6, 2),
                                 (192, 5, 2, 6, 4), (320, 3, 1, 6, 1)]:
            for i in range(n):
                layers.append(IR(cin, cout, k, s if i == 0 else 1, t, act=nn.ReLU))
                cin = cout
        layers.append(cbr(cin, 1280, 1))
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x):
        return self.classifier(self.layers(x).mean([2, 3]))


# -- MobileNetV3 / EfficientNet -------------------------------------------------------------------------

class SE(nn.Module):
    def __init__(self, c: int, sq: int, act: type[nn.Module], gate: type[nn.Module]) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, sq, 1), nn.Conv2d(sq, c, 1)
        self.act, self.gate = act(), gate()

    def forward(self, x):
        g = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(self.act(self.fc1(g))))


class MBConv(nn.Module):
    def __init__(self, cin: int, k: int, mid: int, cout: int, se_sq: int, act: type[nn.Module], s: int,
                 gate: type[nn.Module] = nn.Hardsigmoid, se_act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        layers: list[nn.Module] = [] if mid == cin else [cbr(cin, mid, 1, act=act)]
        layers.append(cbr(mid, mid, k, s, groups=mid, act=act))
        if se_sq:
            layers.append(SE(mid, se_sq, se_act, gate))
        layers.append(cbr(mid, cout, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.res = s == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.res else self.body(x)


_V3_LARGE = [(16, 3, 16, 16, 0, "RE", 1), (16, 3, 64, 24, 0, "RE", 2), (24, 3, 72, 24, 0, "RE", 1),
             (24, 5, 72, 40, 1, "RE", 2), (40, 5, 120, 40, 1, "RE", 1), (40, 5, 120, 40, 1, "RE", 1),
             (40, 3, 240, 80, 0, "HS", 2), (80, 3, 200, 80, 0, "HS", 1), (80, 3, 184, 80, 0, "HS", 1),
             (80, 3, 184, 80, 0, "HS", 1), (80, 3, 480, 112, 1, "HS", 1), (112, 3, 672, 112, 1, "HS", 1),
             (112, 5, 672, 160, 1, "HS", 2), (160, 5, 960, 160, 1, "HS", 1), (160, 5, 960, 160, 1, "HS", 1)]
_V3_SMALL = [(16, 3, 16, 16, 1, "RE", 2), (16, 3, 72, 24, 0, "RE", 2), (24, 3, 88, 24, 0, "RE", 1),
             (24, 5, 96, 40, 1, "HS", 2), (40, 5, 240, 40, 1, "HS", 1), (40, 5, 240, 40, 1, "HS", 1),
             (40, 5, 120, 48, 1, "HS", 1), (48, 5, 144, 48, 1, "HS", 1), (48, 5, 288, 96, 1, "HS", 2),
             (96, 5, 576, 96, 1, "HS", 1), (96, 5, 576, 96, 1, "HS", 1)]


class MobileNetV3(nn.Module):
    def __init__(self, cfg: list[tuple], last: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [cbr(3, 16, 3, 2, act=nn.Hardswish)]
        for cin, k, mid, cout, se, a, s in cfg:
            act = nn.ReLU if a == "RE" else nn.Hardswish
            layers.append(MBConv(cin, k, mid, cout, _div(mid // 4) if se else 0, act, s))
        c = cfg[-1][3]
        layers.append(cbr(c, 6 * c, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(6 * c, last), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(last, 1000))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class EfficientNetB0(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [cbr(3, 32, 3, 2, act=nn.SiLU)]
        for t, k, s, cin, cout, n in [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                                      (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                                      (6, 3, 1, 192, 320, 1)]:
            for i in range(n):
                c = cin if i == 0 else cout
                layers.append(MBConv(c, k, c * t, cout, max(1, c // 4), nn.SiLU, s if i == 0 else 1,
                                     gate=nn.Sigmoid, se_act=nn.SiLU))
        layers.append(cbr(320, 1280, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


# -- ShuffleNetV2 ---------------------------------------------------------------------------------------

class ShuffleUnit(nn.Module):
    def __init__(self, cin: int, cout: int, s: int) -> None:
        super().__init__()
        bf = cout // 2
        self.s = s
        self.branch1 = nn.Sequential(cbr(cin, cin, 3, s, groups=cin, act=None), cbr(cin, bf, 1)) if s > 1 else None
        c2 = cin if s > 1 else bf
        self.branch2 = nn.Sequential(cbr(c2, bf, 1), cbr(bf, bf, 3, s, groups=bf, act=None), cbr(bf, bf, 1))

    def forward(self, x):
        if self.s == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), 1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), 1)
        b, c, h, w = out.shape
        return out.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)  # channel shuffle


class ShuffleNetV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        outs = [24, 116, 232, 464, 1024]
        self.stem = nn.Sequential(cbr(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1))
        layers: list[nn.Module] = []
        cin = 24
        for n, c in zip([4, 8, 4], outs[1:4]):
            layers += [ShuffleUnit(cin, c, 2)] + [ShuffleUnit(c, c, 1) for _ in range(n - 1)]
            cin = c
        self.stages = nn.Sequential(*layers)
        self.conv5 = cbr(cin, outs[-1], 1)
        self.fc = nn.Linear(outs[-1], 1000)

    def forward(self, x):
        return self.fc(self.conv5(self.stages(self.stem(x))).mean([2, 3]))


MODELS = {
    "resnet18": lambda: ResNet(Basic, [2, 2, 2, 2]),
    "resnet50": lambda: ResNet(Bottleneck, [3, 4, 6, 3]),
    "mobilenet_v2": MobileNetV2,
    "mobilenet_v3_small": lambda: MobileNetV3(_V3_SMALL, 1024),
    "mobilenet_v3_large": lambda: MobileNetV3(_V3_LARGE, 1280),
    "mnasnet1_0": MnasNet,
    "shufflenet_v2_x1_0": ShuffleNetV2,
    "efficientnet_b0": EfficientNetB0,
}


def _randomised(module: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial BN statistics, as in a trained network
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return module.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", default=str(Path(__file__).parent / "out" / "graph"))
    ap.add_argument("--quick", action="store_true", help="Protocol.quick() everywhere (smoke test)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    args = ap.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    protocol = Protocol.quick() if args.quick else Protocol()
    t0 = time.perf_counter()

    torch.manual_seed(0)
    paths = {}
    for i, name in enumerate(names):
        paths[name] = torch_to_onnx(_randomised(MODELS[name](), i), (3, 224, 224), out / f"{name}.onnx")
    t_export = time.perf_counter() - t0

    specs: list[S.OpSpec] = []
    for name in names:
        specs += kernel_specs_of(paths[name])
    # a few elementwise ops give the fallback rule its ms-per-element rate
    for shape in [(32, 112, 112), (96, 56, 56), (240, 28, 28), (672, 14, 14)]:
        specs += [S.add(shape), S.act(shape, "relu"), S.act(shape, "sigmoid")]
    n_distinct = len({s.key for s in specs})
    print(f"profiling {n_distinct} distinct kernel specs on cpu-ort ...", file=sys.stderr)
    t1 = time.perf_counter()
    res = profile_ops(specs, "cpu-ort", protocol=protocol, out_dir=out / "table", progress=True)
    t_profile = time.perf_counter() - t1
    table = res.table

    dev = load_device("cpu-ort")
    rt = make_runtime(dev.runtime, **dev.runtime_kwargs())
    t2 = time.perf_counter()
    measured = {n: measure_model(rt, paths[n], protocol).median_ms for n in names}
    t_measure = time.perf_counter() - t2

    pred = GraphPredictor(table=table, allow_fallback=True).fit()
    rows = []
    for n in names:
        onnx_kernels.clear_cache()
        t = time.perf_counter()
        p = float(pred.predict([paths[n]])[0])
        first_ms = (time.perf_counter() - t) * 1e3
        reps = []
        for _ in range(20):
            t = time.perf_counter()
            pred.predict([paths[n]])
            reps.append((time.perf_counter() - t) * 1e3)
        df = pred.kernels(paths[n])
        src = df["source"].value_counts().to_dict()
        fb_ops = df.loc[df["source"] == "fallback", "op_type"].value_counts().to_dict()
        rows.append({"model": n, "measured": measured[n], "predicted": p, "kernels": len(df),
                     "table": src.get("table", 0), "regressor": src.get("regressor", 0),
                     "fallback": src.get("fallback", 0), "zero": src.get("zero-cost", 0),
                     "fallback_ms": float(df.loc[df["source"] == "fallback", "predicted_ms"].sum()),
                     "fb_ops": fb_ops, "first_ms": first_ms, "cached_ms": float(np.median(reps))})

    # leave-one-model-out calibration (y ~ a*S + b fitted on the other models)
    loo = {}
    if len(names) >= 3:
        for n in names:
            others = [m for m in names if m != n]
            cal = GraphPredictor(table=table, allow_fallback=True).fit([paths[m] for m in others],
                                                                 [measured[m] for m in others])
            loo[n] = float(cal.predict([paths[n]])[0])

    print(f"\n## GraphPredictor on cpu-ort ({'quick' if args.quick else 'default'} protocol), 224x224, batch 1\n")
    print("| model | measured ms | predicted ms | error % | LOO-calibrated ms | error % | kernels | table | regressor "
          "| fallback (ms) | zero-cost | predict first ms | predict cached ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    errs, loo_errs = [], []
    for r in rows:
        e = 100 * (r["predicted"] / r["measured"] - 1)
        errs.append(e)
        le = ""
        lv = ""
        if r["model"] in loo:
            le_v = 100 * (loo[r["model"]] / r["measured"] - 1)
            loo_errs.append(le_v)
            le, lv = f"{le_v:+.1f}", f"{loo[r['model']]:.2f}"
        print(f"| {r['model']} | {r['measured']:.2f} | {r['predicted']:.2f} | {e:+.1f} | {lv} | {le} | {r['kernels']} "
              f"| {r['table']} | {r['regressor']} | {r['fallback']} ({r['fallback_ms']:.2f}) | {r['zero']} "
              f"| {r['first_ms']:.0f} | {r['cached_ms']:.2f} |")
    print(f"\nmean |error| {np.mean(np.abs(errs)):.1f} % (uncalibrated)"
          + (f", {np.mean(np.abs(loo_errs)):.1f} % (leave-one-out calibrated)" if loo_errs else ""))
    print("\nfallback kernels by op type:")
    for r in rows:
        if r["fb_ops"]:
            print(f"- {r['model']}: " + ", ".join(f"{k} x{v}" for k, v in r["fb_ops"].items()))
    print(f"\nper-call overhead {table.metadata.overhead_ms * 1e3:.1f} µs; {n_distinct} specs profiled in "
          f"{t_profile:.0f} s; export {t_export:.0f} s; end-to-end measurements {t_measure:.0f} s; "
          f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
