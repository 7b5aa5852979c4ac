"""The library's layers, and the check that each module imports only its own layer and those
below (``make lint``; tests/test_structure.py runs it too). The rule of each layer is in
docs/architecture.md; in short:

    core     standard library only: settings, errors, events, files and locks, signals
    geo      + numpy, GDAL, OpenCV, never torch: grids, pixels, scenes, polygons, metrics
    models   + torch: the networks, their losses, model-file sanity
    runtime  devices, precision, model files, inference, ranks
    work     training, detection, export, whole jobs
    app      the command line and the program

Every ``mrife`` import counts, at module level or inside a function (a lazy import is still a
dependency); third-party imports are checked at module level, where they cost every importer.
Also checked: no import cycle among the library's modules, nor among bench/'s scripts.

    python scripts/layers.py            # exit 1 and one line per breach
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {
    "core": ["mrife", "mrife.config", "mrife.errors", "mrife.events", "mrife.digest",
             "mrife.leftovers", "mrife.signals", "mrife.cli_output"],
    "geo": ["mrife.grid", "mrife.preprocess", "mrife.metrics", "mrife.data", "mrife.geodata"],
    "models": ["mrife.models", "mrife.models.*", "mrife.model_checks"],
    "runtime": ["mrife.compute", "mrife.devices", "mrife.checkpoint", "mrife.inference",
                "mrife.distributed"],
    "work": ["mrife.train", "mrife.train_measure", "mrife.detect", "mrife.detect.*",
             "mrife.export", "mrife.onnx_export", "mrife.jobs"],
    "app": ["mrife.cli", "mrife.cli_args", "mrife.__main__"],
}
ORDER = list(LAYERS)
# third-party packages a layer may not import at module level
BANNED = {"core": {"numpy", "osgeo", "cv2", "torch", "torchvision"},
          "geo": {"torch", "torchvision"}}


def layer_of(module: str) -> str | None:
    for name, members in LAYERS.items():
        for m in members:
            if module == m or (m.endswith(".*") and module.startswith(m[:-1])):
                return name
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, at module level, line) of a file; relative imports resolved."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = {id(n) for n in tree.body}
    for node in tree.body:                     # `if TYPE_CHECKING:` blocks count as top level
        if isinstance(node, ast.If):
            top |= {id(n) for n in node.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            found += [(n, id(node) in top, node.lineno) for n in names]
    return found


def library_breaches() -> list[str]:
    problems, graph = [], {}
    for path in sorted((ROOT / "mrife").rglob("*.py")):
        name = module_name(path)
        layer = layer_of(name)
        if layer is None:
            problems.append(f"{name}: in no layer; add it to LAYERS in scripts/layers.py")
            continue
        rank = ORDER.index(layer)
        banned = BANNED.get(layer, set())
        graph[name] = set()
        for target, module_level, line in imports(path):
            if target == "mrife" or target.startswith("mrife."):
                target = target if layer_of(target) or "." not in target else \
                    target.rpartition(".")[0]           # `from .x import name`: module x
                other = layer_of(target)
                if other is not None and ORDER.index(other) > rank:
                    problems.append(f"{name}:{line} imports {target}: {layer} may not import "
                                    f"{other} (layers: {' < '.join(ORDER)})")
                if module_level and target != name:
                    graph[name].add(target)
            elif module_level and target.split(".")[0] in banned:
                problems.append(f"{name}:{line} imports {target} at module level: the {layer} "
                                f"layer imports none of {', '.join(sorted(banned))}")
    return problems + cycles(graph, "mrife")


def bench_breaches() -> list[str]:
    scripts = {p.stem: p for p in (ROOT / "bench").glob("*.py")}
    graph = {name: {t.split(".")[0] for t, _, _ in imports(path)} & set(scripts) - {name}
             for name, path in scripts.items()}
    return cycles(graph, "bench")


def cycles(graph: dict[str, set[str]], where: str) -> list[str]:
    """One line per import cycle found (depth-first search over module-level imports)."""
    seen, stack, found = set(), [], []

    def visit(node: str) -> None:
        if node in stack:
            found.append(f"{where}: import cycle {' -> '.join(stack[stack.index(node):])} -> "
                         f"{node}")
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        stack.pop()

    for node in sorted(graph):
        visit(node)
    return found


def main() -> int:
    problems = library_breaches() + bench_breaches()
    for line in problems:
        print(line)
    print(f"layers: {len(problems)} breach(es) ({' < '.join(ORDER)}; bench/ without cycles)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
