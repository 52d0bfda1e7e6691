"""The package has no import circle: every module sits above the ones it uses.

Every `import` counts, wherever it is written (module level, inside a
function, under TYPE_CHECKING): a lazy or typing-only import is still a
dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "vault"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_there_is_no_import_circle() -> None:
    assert cycles(import_graph()) == []


def test_the_graph_is_real() -> None:
    graph = import_graph()
    assert "vault.api" in graph["vault.cli.render"] or "vault.api" in graph["vault"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def package_of(module: str) -> str:
    """`vault._verify.metadata` -> `vault._verify`; a top-level module is its own node."""
    parts = module.split(".")
    return ".".join(parts[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, deps in graph.items():
        here = package_of(module)
        packages.setdefault(here, set()).update(package_of(d) for d in deps if package_of(d) != here)
    return packages


def test_packages_import_only_downward() -> None:
    """Beside the module graph: no two packages import each other, directly or round a circle
    (the container format knows no catalog, verification no operation, the CLI no internals)."""
    assert cycles(package_graph(import_graph())) == []


def test_the_layers_are_where_the_architecture_puts_them() -> None:
    packages = package_graph(import_graph())
    assert "vault._ops" not in packages["vault._bundle"] and "vault._catalog" not in packages["vault._bundle"]
    assert "vault._ops" not in packages["vault._verify"]
    assert "vault._ops" not in packages["vault._hub"] and "vault._ops" not in packages["vault._ui"]
    assert "vault._signing" not in packages["vault._statements"]


def test_the_cli_imports_only_the_public_api() -> None:
    """Like sigstore-python's CLI: nothing a user can do from the command line is unreachable from
    Python. The private modules it shares are what the click-free fast path uses too: the text
    renderer, and the handling of a reader that goes away; and the record of a stop request its
    signal handlers make, which the operations check (`_interrupts`)."""
    graph = import_graph()
    private = {
        f"{m} -> {d}"
        for m, deps in graph.items() if m.startswith("vault.cli")
        for d in deps if d.startswith("vault._")
        and d not in ("vault._report_text", "vault._closed_pipe", "vault._interrupts")
    }  # fmt: skip
    assert private == set()
