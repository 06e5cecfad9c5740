"""The gallery's ``index.html``: one self-contained page (no server, no network) a person opens.

A card per budget (architecture, FLOPs and parameters, predicted latency with the budget margin,
measured latency with its spread, accuracy and its source, links to the exported model files),
an interactive front (inline SVG: hover a point for its numbers, wheel to zoom, double-click to
reset), predicted against measured for the members, the tables, and where the numbers come
from (host, runtime versions, latency table or predictor).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["render_page", "agreement_text"]

_W, _H, _PAD = 640, 380, 52
_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:13px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}thead th{background:#f2f2f2}
td{font-family:ui-monospace,monospace}.arch{word-break:break-all;font-family:ui-monospace,monospace;font-size:12px}
.note{color:#a40}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.card{border:1px solid #ccc;border-radius:6px;padding:10px 12px}.card h3{margin:0 0 6px}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:6px 0;font-size:13px}
.card dt{color:#666}.over{color:#b00;font-weight:bold}.ok{color:#070}
svg{border:1px solid #ddd;background:#fff;max-width:100%;height:auto}svg text{font-size:11px}
.plots{display:flex;flex-wrap:wrap;gap:16px}"""
_ZOOM = """for(const s of document.querySelectorAll('svg.zoom')){const v0=s.getAttribute('viewBox');
s.addEventListener('wheel',e=>{e.preventDefault();const b=s.viewBox.baseVal,r=s.getBoundingClientRect();
const x=b.x+(e.clientX-r.left)/r.width*b.width,y=b.y+(e.clientY-r.top)/r.height*b.height,k=e.deltaY<0?0.8:1.25;
s.setAttribute('viewBox',[x-(x-b.x)*k,y-(y-b.y)*k,b.width*k,b.height*k].join(' '))},{passive:false});
s.addEventListener('dblclick',()=>s.setAttribute('viewBox',v0))}"""


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "<b>no</b>"
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, cols: Sequence[str], names: dict[str, str] | None = None) -> str:
    names = names or {}
    head = "".join(f"<th>{html.escape(names.get(c, c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_files(r[c]) if c == 'files' else _cell(r[c])}</td>" for c in cols)
                   + "</tr>" for _, r in df.iterrows())
    return f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _files(v: Any) -> str:
    """Links to a member's exported files (paths relative to the gallery folder)."""
    if not isinstance(v, str) or not v.strip():
        return "—"
    return " ".join(f'<a href="{html.escape(p)}">{html.escape(Path(p).name)}</a>' for p in v.split())


def agreement_text(info: dict[str, Any]) -> str:
    n = int(info.get("measured") or 0)
    if not n:
        return "no member was measured"
    w10, w5 = int(info.get("within_10_pct", 0)), int(info.get("within_5_pct", 0))
    return (f"measured agrees with predicted within ±10 % for {w10} of {n} measured members "
            f"(±5 %: {w5}; median |error| {info.get('median_abs_error_pct') or float('nan'):.1f} %)")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (m * step) <= n:
            step *= m
            break
    return [float(v) for v in np.arange(math.ceil(lo / step) * step, hi + 1e-12, step)]


class _Axes:
    """Data to SVG coordinates, with axes, ticks and labels."""

    def __init__(self, x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str) -> None:
        fx, fy = x[np.isfinite(x)], y[np.isfinite(y)]
        self.x0, self.x1 = (float(fx.min()), float(fx.max())) if fx.size else (0.0, 1.0)
        self.y0, self.y1 = (float(fy.min()), float(fy.max())) if fy.size else (0.0, 1.0)
        for a in ("x", "y"):
            lo, hi = getattr(self, a + "0"), getattr(self, a + "1")
            pad = 0.05 * (hi - lo) if hi > lo else max(abs(lo) * 0.05, 1e-3)
            setattr(self, a + "0", lo - pad)
            setattr(self, a + "1", hi + pad)
        self.xlabel, self.ylabel = xlabel, ylabel

    def px(self, x: float) -> float:
        return _PAD + (x - self.x0) / (self.x1 - self.x0) * (_W - _PAD - 12)

    def py(self, y: float) -> float:
        return _H - _PAD + 12 - (y - self.y0) / (self.y1 - self.y0) * (_H - _PAD - 8)

    def frame(self) -> str:
        out = [f'<line x1="{_PAD}" y1="{self.py(self.y0)}" x2="{_W - 12}" y2="{self.py(self.y0)}" stroke="#888"/>',
               f'<line x1="{_PAD}" y1="{self.py(self.y0)}" x2="{_PAD}" y2="8" stroke="#888"/>']
        for t in _ticks(self.x0, self.x1):
            out.append(f'<text x="{self.px(t):.1f}" y="{_H - _PAD + 28}" text-anchor="middle">{t:g}</text>')
        for t in _ticks(self.y0, self.y1):
            out.append(f'<text x="{_PAD - 4}" y="{self.py(t) + 4:.1f}" text-anchor="end">{t:.4g}</text>')
        out.append(f'<text x="{(_W + _PAD) / 2}" y="{_H - 6}" text-anchor="middle">{html.escape(self.xlabel)}</text>')
        out.append(f'<text x="12" y="{_H / 2}" text-anchor="middle" transform="rotate(-90 12 {_H / 2})">'
                   f'{html.escape(self.ylabel)}</text>')
        return "".join(out)


def _dot(ax: _Axes, x: float, y: float, r: float, style: str, tip: str) -> str:
    return (f'<circle cx="{ax.px(x):.1f}" cy="{ax.py(y):.1f}" r="{r}" {style}>'
            f'<title>{html.escape(tip)}</title></circle>')


def _front_svg(others: pd.DataFrame, front: pd.DataFrame, budgets: pd.DataFrame, ylabel: str) -> str:
    xs = np.concatenate([others["latency_ms"].to_numpy(float), front["predicted_ms"].to_numpy(float),
                         front["measured_ms"].to_numpy(float)])
    raw = np.concatenate([others["accuracy"].to_numpy(float), front["accuracy"].to_numpy(float)])
    pos = raw[raw > 0]
    # a score over many decades (a zero-cost proxy such as synflow) is drawn on a log axis
    log_axis = bool(raw.size and raw.min() >= 0 and pos.size and pos.max() / pos.min() > 1e3)
    floor = float(pos.min()) if pos.size else 1.0

    def g(v: float) -> float:
        return math.log10(max(float(v), floor)) if log_axis else float(v)

    ys = np.array([g(v) for v in raw])
    fa = np.array([g(v) for v in front["accuracy"]])
    if fa.size and not log_axis:  # the front is what matters: far-below networks would flatten it
        ys = ys[ys >= fa.min() - max(1.5 * np.ptp(fa), 0.5)]
    ax = _Axes(xs, ys, "latency (ms)", f"log10 {ylabel}" if log_axis else ylabel)
    parts = [ax.frame()]
    for _, b in budgets.iterrows():
        x = ax.px(float(b["budget_ms"]))
        parts.append(f'<line x1="{x:.1f}" y1="8" x2="{x:.1f}" y2="{ax.py(ax.y0)}" stroke="#999" stroke-dasharray="3 3">'
                     f'<title>budget {b["budget_ms"]:g} ms</title></line>')
    for _, r in others.iterrows():
        if ax.y0 <= g(r["accuracy"]) <= ax.y1:
            parts.append(_dot(ax, r["latency_ms"], g(r["accuracy"]), 1.6, 'fill="#bbb"',
                              f"evaluated: {r['latency_ms']:.4g} ms, {r['accuracy']:.4g}"))
    fx = front["predicted_ms"].to_numpy(float)
    stair = [(fx[0], fa[0])] if fx.size else []
    for i in range(1, fx.size):  # a front is a staircase: no network sits between its members
        stair += [(fx[i], fa[i - 1]), (fx[i], fa[i])]
    pts = " ".join(f"{ax.px(x):.1f},{ax.py(y):.1f}" for x, y in stair)
    parts.append(f'<polyline points="{pts}" fill="none" stroke="#d62728" stroke-width="1.2"/>')
    for _, r in front.iterrows():
        y = g(r["accuracy"])
        tip = (f"member {r['member']}: predicted {r['predicted_ms']:.4g} ms, measured "
               f"{_cell(r['measured_ms'])} ms, {ylabel} {r['accuracy']:.4g}\n{r['arch']}")
        if math.isfinite(r["measured_ms"]):
            parts.append(f'<line x1="{ax.px(r["predicted_ms"]):.1f}" y1="{ax.py(y):.1f}" '
                         f'x2="{ax.px(r["measured_ms"]):.1f}" y2="{ax.py(y):.1f}" stroke="#1f77b4"/>')
            parts.append(_dot(ax, r["measured_ms"], y, 4.5, 'fill="none" stroke="#1f77b4"', tip))
        parts.append(_dot(ax, r["predicted_ms"], y, 3.2, 'class="member" fill="#d62728"', tip))
    legend = ('<text x="60" y="20" fill="#d62728">● front, predicted</text>'
              '<text x="200" y="20" fill="#1f77b4">○ measured</text><text x="290" y="20" fill="#999">● evaluated'
              '</text>')
    return (f'<svg class="zoom front" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
            f'aria-label="latency-accuracy front">{legend}{"".join(parts)}</svg>')


def _agreement_svg(front: pd.DataFrame) -> str:
    m = front[np.isfinite(front["measured_ms"].to_numpy(float))]
    if not len(m):
        return ""
    both = np.concatenate([m["predicted_ms"].to_numpy(float), m["measured_ms"].to_numpy(float)])
    ax = _Axes(both, both, "measured (ms)", "predicted (ms)")
    lo, hi = ax.x0, ax.x1
    parts = [ax.frame()]
    for k, dash in ((1.0, ""), (1.1, ' stroke-dasharray="4 3"'), (0.9, ' stroke-dasharray="4 3"')):
        parts.append(f'<line x1="{ax.px(lo):.1f}" y1="{ax.py(k * lo):.1f}" x2="{ax.px(hi):.1f}" '
                     f'y2="{ax.py(k * hi):.1f}" stroke="#999"{dash}/>')
    for _, r in m.iterrows():
        parts.append(_dot(ax, r["measured_ms"], r["predicted_ms"], 3.5, 'class="measured" fill="#1f77b4"',
                          f"member {r['member']}: measured {r['measured_ms']:.4g} ms, predicted "
                          f"{r['predicted_ms']:.4g} ms ({r['error_pct']:+.1f} %)"))
    return (f'<svg class="zoom agreement" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
            f'aria-label="predicted against measured">{"".join(parts)}'
            '<text x="60" y="20">dashed: ±10 %</text></svg>')


def _card(b: pd.Series, front: pd.DataFrame, info: dict[str, Any], acc_label: str) -> str:
    if b["member"] is None or (isinstance(b["member"], float) and not math.isfinite(b["member"])):
        return (f"<div class=card><h3>{b['budget_ms']:.4g} ms</h3><p>no network of the front is predicted within "
                "this budget</p></div>")
    r = front.loc[front["member"] == int(b["member"])].iloc[0]
    meets = b.get("meets_budget")
    verdict = "" if meets is None else ("<span class=ok>under the budget</span>" if meets
                                        else "<span class=over>over the budget</span>")
    margin = b.get("margin_pct")
    pred = f"{b['predicted_ms']:.4g} ms"
    if margin is not None and isinstance(margin, (int, float)) and math.isfinite(margin):
        pred += f" (picked under {b['pick_under_ms']:.4g} ms: a {margin:.1f} % margin)"
    meas = "not measured"
    if math.isfinite(r["measured_ms"]):
        meas = f"{r['measured_ms']:.4g} ms"
        if math.isfinite(r.get("measured_iqr_pct", np.nan)):
            meas += f" (IQR {r['measured_iqr_pct']:.1f} % of the median)"
        meas += f", {r['error_pct']:+.1f} % predicted vs measured {verdict}"
    rows = [("member", str(int(b["member"]))), (acc_label, f"{b['accuracy']:.4g}"),
            ("source", html.escape(info.get("accuracy", ""))), ("predicted", pred), ("measured", meas)]
    if "mflops" in b and b["mflops"] is not None and math.isfinite(b["mflops"]):
        rows.append(("FLOPs", f"{b['mflops']:.4g} M"))
    if "mparams" in b and b["mparams"] is not None and math.isfinite(b["mparams"]):
        rows.append(("parameters", f"{b['mparams']:.4g} M"))
    if b.get("replaced_member") is not None and not pd.isna(b.get("replaced_member")):
        rows.append(("replaced", f"member {int(b['replaced_member'])}, predicted under but measured over"))
    rows.append(("files", _files(r.get("files", ""))))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (f"<div class=card><h3>{b['budget_ms']:.4g} ms</h3><dl>{dl}</dl>"
            f"<div class=arch>{html.escape(str(b['arch']))}</div></div>")


def _provenance(info: dict[str, Any]) -> str:
    from hwlat.devices.fingerprint import detect, fingerprint_summary

    fp = detect(gpus=False)
    rows = [("host", fingerprint_summary(fp)), ("host id", fp.get("host_id")), ("python", fp.get("python")),
            ("hwlat", fp.get("hwlat_version")),
            ("runtimes", ", ".join(f"{k} {v}" for k, v in sorted((fp.get("runtimes") or {}).items()) if v)),
            ("device", info.get("device")), ("latency from", info.get("latency")),
            ("calibration", info.get("calibration")), ("accuracy from", info.get("accuracy")),
            ("strategy", info.get("strategy")), ("evaluations", info.get("evaluations"))]
    body = "".join(f"<tr><th>{k}</th><td>{_cell(v)}</td></tr>" for k, v in rows if v not in (None, "", {}))
    return f"<div class=scroll><table>{body}</table></div>"


def render_page(front: pd.DataFrame, budgets: pd.DataFrame, others: pd.DataFrame, png: Path,
                info: dict[str, Any]) -> str:
    """The page; ``others`` are evaluated networks off the front (thinned) shown in grey."""
    proxy = info.get("accuracy_kind") == "proxy"
    acc_label = "proxy score" if proxy else "accuracy"
    img = base64.b64encode(png.read_bytes()).decode("ascii")
    note = ("<p class=note>The vertical axis is a zero-cost proxy computed at initialisation: it ranks networks, "
            "it is not an accuracy.</p>") if proxy else ""
    cards = "".join(_card(b, front, info, acc_label) for _, b in budgets.iterrows())
    names = {"accuracy": acc_label}
    run = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in info.items())
    title = f"{html.escape(info['space'])} on {html.escape(info['device'])}"
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>hwlat gallery: {title}</title><style>{_CSS}</style></head>
<body>
<h1>{title}</h1>
<p>{acc_label.capitalize()}: <b>{html.escape(info['accuracy'])}</b>. Predicted latency from the search's predictor;
measured latency from end-to-end runs on the device with hwlat's measurement protocol.</p>{note}
<p><b>{html.escape(agreement_text(info))}</b></p>
<h2>Best network per budget</h2>
<div class=cards>{cards}</div>
<h2>Front</h2>
<p>Hover a point for its numbers; the mouse wheel zooms, a double click resets.</p>
<div class=plots>{_front_svg(others, front, budgets, acc_label)}{_agreement_svg(front)}</div>
<details><summary>The same as a picture (PNG)</summary>
<img src="data:image/png;base64,{img}" alt="latency-accuracy Pareto front" style="max-width:100%"></details>
<h2>Budgets</h2>
{_table(budgets, [c for c in ("budget_ms", "pick_under_ms", "accuracy", "predicted_ms", "measured_ms",
                              "meets_budget", "member", "replaced_member", "mflops", "mparams", "arch")
                  if c in budgets.columns], names)}
<h2>Pareto front</h2>
{_table(front, [c for c in ("member", "predicted_ms", "measured_ms", "measured_iqr_pct", "error_pct", "accuracy",
                            "arch", "files") if c in front.columns], names)}
<h2>Where the numbers come from</h2>
{_provenance(info)}
<p>Files: <a href="front.csv">front.csv</a> <a href="front.json">front.json</a> <a href="budgets.csv">budgets.csv</a>
<a href="pareto.png">pareto.png</a></p>
<details><summary>Everything the run recorded</summary><div class=scroll><table>{run}</table></div></details>
<script>{_ZOOM}</script>
</body></html>
"""
