"""The layout rules of ARCHITECTURE.md, checked on the source: no part imports another part's
underscore names, parts import only the parts below them, and a module over 500 lines says why."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "hwlat"
#: the parts, lowest first: a part may import the ones before it (errors and registry: everyone)
ORDER = ["ops", "devices", "latency_tables", "profiler", "spaces", "predictors", "search", "cli", "testing"]
BASE = {"errors", "registry"}
LONG = 500
MODULES = sorted(ROOT.rglob("*.py"))


def _part(module: str) -> str | None:
    """The part of ``hwlat.a.b`` ("a"), or None for modules directly under hwlat/ (shared helpers)."""
    bits = module.split(".")
    if len(bits) < 2:
        return None
    return bits[1] if (ROOT / bits[1]).is_dir() else None


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path):
    """(imported module, imported names) of every ``hwlat`` import, at any depth of the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("hwlat"):
            yield node.module, [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("hwlat"):
                    yield a.name, [], node.lineno


def test_there_are_modules_to_check():
    assert len(MODULES) > 50


def test_no_part_imports_another_parts_underscore_names():
    bad = []
    for path in MODULES:
        here = _part(_module_name(path))
        for module, names, line in _imports(path):
            there = _part(module)
            if there is None or there == here:
                continue  # shared helpers directly under hwlat/, or the same part
            private = [b for b in module.split(".")[2:] if b.startswith("_")]
            private += [n for n in names if n.startswith("_")]
            if private:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} imports {', '.join(private)} from {module}")
    assert not bad, "cross-part imports of private names (make them public or move them):\n" + "\n".join(bad)


def test_parts_import_only_the_parts_below_them():
    bad = []
    for path in MODULES:
        here = _part(_module_name(path))
        if here is None or here not in ORDER:
            continue
        for module, _names, line in _imports(path):
            there = _part(module)
            if there is None or there == here or there in BASE:
                continue
            if there not in ORDER or ORDER.index(there) > ORDER.index(here):
                bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {here} imports {module} (against the flow)")
    assert not bad, "\n".join(bad)


def test_a_long_module_says_why():
    bad = [str(p.relative_to(ROOT.parent)) for p in MODULES if len(p.read_text().splitlines()) > LONG
           and "long-module:" not in "\n".join(p.read_text().splitlines()[:40])]
    assert not bad, (f"over {LONG} lines: split them, or write 'long-module: <reason>' near the top: "
                     + ", ".join(bad))
