"""The package's shape: imports flow one way, reading -> data -> models -> inference -> training ->
(analysis, deploy, web) -> cli, with no cycles. Read from the source with `ast`, so a local
import inside a function counts as much as one at the top of a file."""

from __future__ import annotations

import ast
from pathlib import Path

import digitlab

PACKAGE = Path(digitlab.__file__).parent
# Lower layers first. A module may import its own package and anything in a lower layer; packages
# that share a layer (models and numpy_cnn; analysis, deploy and web) do not import each other.
LAYERS = [
    {"digitlab", "errors", "version"},
    {"utils"},
    {"reading"},
    {"data"},
    {"models", "numpy_cnn"},
    {"inference"},
    {"training"},
    {"analysis", "deploy", "web"},
    {"api"},
    {"cli"},
    {"__main__"},
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("digitlab"):
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != name and target.startswith("digitlab"):
                    graph[name].add(target)
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "digitlab"


def _layer(module: str) -> int:
    return next(i for i, packages in enumerate(LAYERS) if _package(module) in packages)


def test_every_package_has_a_layer():
    assert {_package(m) for m in import_graph()} <= set().union(*LAYERS)


# The package's face: its version, and `digitlab.load()`, digitlab/api.py's, reached from the package's __init__
# on first use
PUBLIC_FACE = {("digitlab", "digitlab.api"), ("digitlab", "digitlab.version")}


def wrong_way_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if (a, b) not in PUBLIC_FACE
                  and (_layer(b) > _layer(a) or (_layer(b) == _layer(a) and _package(a) != _package(b))))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, str] = {}
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_imports_flow_from_lower_layers_only():
    assert wrong_way_imports(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_checks_see_real_edges_and_catch_bad_ones():
    graph = import_graph()
    assert "digitlab.inference.checkpoint" in graph["digitlab.training.trainer"]  # local imports count too
    assert "digitlab.inference.predictor" in graph["digitlab.web.workers"]
    assert "digitlab.reading.framing" in graph["digitlab.data.augment"]  # reading sits below data
    bad = {"digitlab.data.moving": {"digitlab.training.run_folder"}, "digitlab.web.service": {"digitlab.web.workers"},
           "digitlab.web.workers": {"digitlab.web.service"}, "digitlab.web.app": {"digitlab.deploy.export"},
           "digitlab.training.run_folder": set(), "digitlab.deploy.export": set()}
    assert wrong_way_imports(bad) == ["digitlab.data.moving -> digitlab.training.run_folder",
                                      "digitlab.web.app -> digitlab.deploy.export"]
    assert cycles(bad) == [["digitlab.web.service", "digitlab.web.workers", "digitlab.web.service"]]
