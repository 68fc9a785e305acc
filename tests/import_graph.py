"""The import graph of Caddie's own packages, read from the source with ``ast``.

Every ``import`` and ``from … import`` counts, wherever it stands (module level, inside a
function, under ``if TYPE_CHECKING:``): each one is a dependency a reader has to follow,
and a cycle through a function-level import is still a cycle. ``from package import name``
points at ``package.name`` when that is a module, else at the package's ``__init__``.

Run ``python -m tests.import_graph`` to print the import cycles and the modules over
500 lines.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("store_server", "signage", "handheld_client")


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``importer`` line ``line`` needs ``target``.

    ``implied``: ``target`` is a package around the module imported, whose ``__init__``
    runs first. ``type_only``: the import sits under ``if TYPE_CHECKING:`` and never runs.
    """

    importer: str
    target: str
    line: int
    implied: bool = False
    type_only: bool = False

    def __str__(self) -> str:
        return f"{self.importer} imports {self.target} ({module_path(self.importer)}:{self.line})"


def module_files(packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Each module's dotted name and file; a package is its ``__init__.py``."""
    return dict(_module_files(tuple(packages)))


@functools.cache
def _module_files(packages: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def module_path(module: str) -> str:
    path = _module_files(PACKAGES).get(module)
    return str(path.relative_to(REPO)) if path else module


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(importer: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(path):
        base.pop()
    for _ in range(node.level - 1):
        base.pop()
    return ".".join([*base, node.module] if node.module else base)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The most specific project module ``name`` names, or None outside the project."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _with_packages(importer: str, target: str, line: int, type_only: bool) -> Iterator[Import]:
    """The import of ``target`` and of each package around it that the importer is not
    in: Python runs ``a/__init__.py`` and ``a/b/__init__.py`` before ``a.b.c``."""
    if target == importer:
        return
    yield Import(importer, target, line, type_only=type_only)
    parts = target.split(".")[:-1]
    while parts:
        package = ".".join(parts)
        if not (importer == package or importer.startswith(package + ".")):
            yield Import(importer, package, line, implied=True, type_only=type_only)
        parts.pop()


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Lines of the statements under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            for statement in node.body:
                for inner in ast.walk(statement):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        lines.add(inner.lineno)
    return lines


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    type_only = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name, modules)
                if target is not None:
                    yield from _with_packages(module, target, node.lineno, node.lineno in type_only)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node)
            for alias in node.names:
                target = _known(f"{source}.{alias.name}", modules)
                if target is not None:
                    yield from _with_packages(module, target, node.lineno, node.lineno in type_only)


def import_graph(packages: tuple[str, ...] = PACKAGES) -> dict[str, list[Import]]:
    """Each project module and the project imports it makes (first one per target)."""
    return {module: list(edges) for module, edges in _graph(packages).items()}


@functools.cache
def _graph(packages: tuple[str, ...]) -> dict[str, tuple[Import, ...]]:
    modules = module_files(packages)
    graph: dict[str, tuple[Import, ...]] = {}
    for module, path in modules.items():
        seen: dict[str, Import] = {}
        for edge in imports_of(module, path, modules):
            seen.setdefault(edge.target, edge)
        graph[module] = tuple(seen.values())
    return graph


def runtime(graph: dict[str, list[Import]]) -> dict[str, list[Import]]:
    """The graph without the imports only a type checker reads."""
    return {module: [e for e in edges if not e.type_only] for module, edges in graph.items()}


def strongly_connected(graph: dict[str, list[Import]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or not (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        # Iterative, so a deep chain of imports cannot hit the recursion limit.
        work: list[tuple[str, Iterator[Import]]] = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for edge in edges:
                target = edge.target
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(groups)


def shortest_cycle(graph: dict[str, list[Import]], group: list[str]) -> list[Import]:
    """One shortest chain of imports that leads from the group's first module back to it."""
    members = set(group)
    start = group[0]
    came_by: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for edge in graph[node]:
                if edge.target not in members:
                    continue
                if edge.target == start:
                    chain = [edge]
                    while chain[0].importer != start:
                        chain.insert(0, came_by[chain[0].importer])
                    return chain
                if edge.target not in came_by:
                    came_by[edge.target] = edge
                    following.append(edge.target)
        frontier = following
    return []


def line_counts(packages: Iterable[str] = PACKAGES) -> dict[str, int]:
    return {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for path in module_files(packages).values()
    }


def main() -> None:
    graph = import_graph()
    groups = strongly_connected(graph)
    print(f"{len(graph)} modules, {sum(len(v) for v in graph.values())} project imports")
    print(f"{len(groups)} import cycles ({len(strongly_connected(runtime(graph)))} at run time)")
    for group in groups:
        print(f"- {len(group)} modules: {', '.join(group)}")
        for edge in shortest_cycle(graph, group):
            print(f"    {edge}")
    sizes = sorted(line_counts().items(), key=lambda item: -item[1])
    print("modules over 500 lines:")
    for name, lines in sizes:
        if lines > 500:
            print(f"  {lines:5d} {name}")


if __name__ == "__main__":
    main()
