"""Package-level promises: import is light (never torch), a missing runtime names its extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str, env_path: str | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if env_path:
        env["PYTHONPATH"] = env_path + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=120)


def test_import_never_imports_torch():
    res = _run("""
        import sys
        import hwlat, hwlat.ops, hwlat.devices, hwlat.profiler, hwlat.latency_tables, hwlat.search, hwlat.cli
        from hwlat.spaces import get_space
        get_space("nb201").all_ops()
        heavy = [m for m in ("torch", "onnxruntime", "ai_edge_litert", "matplotlib") if m in sys.modules]
        print(heavy)
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_missing_torch_names_the_extra(tmp_path):
    # a 'torch' that cannot be imported, as on a machine without the extra
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('No module named torch')\n")
    ops = tmp_path / "ops.txt"
    ops.write_text("conv:3x16x16:cout=8,k=3\n")
    res = subprocess.run([sys.executable, "-m", "hwlat", "profile", "--device", "cpu-torch", "--ops", str(ops),
                          "-o", str(tmp_path / "o"), "--quick", "--no-progress"],
                         capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "pip install 'hwlat[torch]'" in res.stderr
