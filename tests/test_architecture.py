"""The package's layout rules, checked on its source (docs/ARCHITECTURE.md).

- no import cycle between modules, counting imports inside functions too (a lazy import
  hides a cycle, it does not remove it);
- no module imports another module's underscored names;
- the library never imports the CLI;
- the change step and the outputs (change, detect, vectorize, outputs, report, io) need
  no torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "landcover"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, names) of every ``import``/``from`` in a file of the package."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "landcover":
                continue
            names = [a.name for a in node.names]
            # "from . import x" imports module x
            subs = [f"{target}.{n}" for n in names if (PKG.parent / (target.replace(
                ".", "/") + f"/{n}.py")).exists() or (PKG.parent / target.replace(
                ".", "/") / n / "__init__.py").exists()]
            out.append((target, names))
            out += [(s, []) for s in subs]
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "landcover"]
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        for target, _ in _imports(path):
            if target in files and target != mod:
                graph[mod].add(target)
    return graph


def test_no_import_cycles():
    graph = _graph()
    # packages' __init__ re-exporting their submodules are not cycles of the flow
    edges = {m: {t for t in ts if not (t == m.rpartition(".")[0] and t in graph)}
             for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t] if t in stack else [m, t])
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_no_module_imports_private_names_of_another():
    bad = []
    for path in PKG.rglob("*.py"):
        for target, names in _imports(path):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{_module_name(path)}: from {target} import {n}")
    assert not bad, bad


def test_the_library_never_imports_the_cli():
    bad = [_module_name(p) for p in PKG.rglob("*.py")
           if p.name != "__main__.py" and "cli" not in p.relative_to(PKG).parts
           and any(t.split(".")[:2] == ["landcover", "cli"] for t, _ in _imports(p))]
    assert not bad, bad


def test_postprocessing_needs_no_torch():
    code = ("import sys\n"
            "import landcover.change, landcover.detect, landcover.vectorize, "
            "landcover.outputs, landcover.report, landcover.io.cog, landcover.io.gpkg\n"
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
    assert r.stdout.strip() == "False"
