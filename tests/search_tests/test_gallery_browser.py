"""The gallery page in a real browser: headless Chromium opens index.html from disk, the front
renders, every link resolves, and a screenshot is saved (skipped where no Chromium is installed). Set
HWLAT_SCREENSHOTS to a folder to keep the screenshot there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwlat.search.gallery import build_gallery
from hwlat.spaces import get_space

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome",
                                                        "headless_shell")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (apt-get install chromium to run it)")


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           *args], capture_output=True, text=True, timeout=120)


def test_the_page_renders_in_chromium_with_its_links(tmp_path):
    space = get_space("nb201")
    archs = space.sample(5, 40)
    lat = np.array([0.2 + space.flops(a) / 1e8 for a in archs])
    acc = 70 + 20 * (1 - np.exp(-lat)) + np.random.default_rng(0).normal(0, 1.0, lat.size)
    df = pd.DataFrame({"arch": [space.encode(a) for a in archs], "latency_ms": lat, "accuracy": acc})
    g = build_gallery(space, df, "cpu-ort", tmp_path / "g", accuracy_name="synthetic accuracy",
                      budgets=[float(np.quantile(lat, q)) for q in (0.3, 0.9)], measure=False, progress=False)
    page = g.out_dir / "index.html"
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the browser parsed the SVG front: every member's point is in the live document
    assert len(re.findall(r'<circle[^>]*class="member"', dom.stdout)) == len(g.front)
    assert dom.stdout.count('class="card"') == len(g.budgets)
    for href in re.findall(r'href="([^"#]+)"', dom.stdout):
        assert (g.out_dir / href).is_file(), href
    shot = tmp_path / "gallery.png"
    res = _chromium(f"--screenshot={shot}", "--window-size=1280,1800", "--hide-scrollbars", page.as_uri())
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a blank page compresses to far less
    keep = os.environ.get("HWLAT_SCREENSHOTS")
    if keep:  # a folder to keep the screenshot in, for a person to look at
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "gallery.png")
