#!/usr/bin/env bash
# GPU checks of hwlat, in one script (under 5 minutes on one GPU): the GPU-marked tests, then a
# small fidelity run (NB201, 30 test networks, K = 10) on gpu-ort-cuda and gpu-torch-cuda.
# It runs only where an NVIDIA GPU is present; paste what it prints into benchmarks/RESULTS.md.
#
#   bash benchmarks/gpu_check.sh            # from the repository root, with hwlat installed
#
# Needs onnxruntime-gpu (the [gpu] way: pip uninstall onnxruntime && pip install onnxruntime-gpu)
# and a CUDA build of torch for the torch device; a device whose runtime is missing is skipped
# with the reason.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi finds none); nothing to check"
  exit 0
fi
echo "== GPU"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== versions"
"$PY" - <<'EOF'
import importlib
for mod in ("onnxruntime", "torch"):
    try:
        m = importlib.import_module(mod)
        extra = ""
        if mod == "onnxruntime":
            extra = f" providers={m.get_available_providers()}"
        if mod == "torch":
            extra = f" cuda={m.cuda.is_available()} {m.version.cuda}"
        print(f"{mod} {m.__version__}{extra}")
    except Exception as exc:  # noqa: BLE001
        print(f"{mod}: not usable ({exc})")
EOF

echo "== GPU-marked tests"
timeout 150 "$PY" -m pytest -q -p no:cacheprovider -m gpu -rs tests 2>&1 | tail -25

echo "== fidelity on the GPU devices (NB201, 30 networks, K = 10)"
devices=()
"$PY" -c "import onnxruntime as o; assert 'CUDAExecutionProvider' in o.get_available_providers()" 2>/dev/null \
  && devices+=(gpu-ort-cuda) || echo "skipping gpu-ort-cuda: onnxruntime has no CUDA execution provider"
"$PY" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null \
  && devices+=(gpu-torch-cuda) || echo "skipping gpu-torch-cuda: no CUDA build of torch"
if [ ${#devices[@]} -gt 0 ]; then
  timeout 180 "$PY" benchmarks/bench_fidelity.py --devices "${devices[@]}" --spaces nb201 --n 30 --calibrate 10 \
    --out "${OUT:-benchmarks/out}/gpu-fidelity" 2>&1 | tail -30
fi
echo "== done"
