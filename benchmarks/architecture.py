"""Architecture figures of the tree it runs in: package cycles, upward imports, large functions, size.

    python -m benchmarks.architecture [--root DIR]

- package cycles: strongly connected groups of more than one package among ``stock_insights.*`` and ``api``
  (grimp's import graph, every import counted, function-level ones included);
- upward imports: module imports that break the layers of ``.importlinter`` (0 when ``lint-imports`` passes);
- functions above cyclomatic complexity 20 (radon) outside migrations and the sandbox, and the largest five;
- lines of code (non-blank, non-comment) in ``stock_insights/`` and ``api/``, and the ``type: ignore`` count.
No timing here, so no load average: every figure is a count and repeats exactly.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
from collections import defaultdict
from pathlib import Path


def top(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] == "api" else ".".join(parts[:2])


def package_cycles(root: Path) -> list[list[str]]:
    import grimp

    sys.path.insert(0, str(root))
    graph = grimp.build_graph("stock_insights", "api", cache_dir=None)
    edges: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = top(module), top(imported)
            if a != b:
                edges[a].add(b)
    nodes = sorted(set(edges) | {b for bs in edges.values() for b in bs})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in nodes:
        if v not in index:
            visit(v)
    return groups


def upward_imports(root: Path) -> int | None:
    """Imports that break the layers contract, counted from a grimp check of each layer pair."""
    config = root / ".importlinter"
    if not config.exists():
        return None
    import grimp

    parser = configparser.ConfigParser()
    parser.read(config)
    layers = [
        [name.strip() for name in re.split(r"[|:]", line) if name.strip()]
        for line in parser["importlinter:contract:layers"]["layers"].strip().splitlines()
    ]
    graph = grimp.build_graph("stock_insights", "api", cache_dir=None)
    count = 0
    for i, lower_layer in enumerate(layers):
        for higher_layer in layers[:i]:
            for low in lower_layer:
                for high in higher_layer:
                    if low in graph.modules and high in graph.modules:
                        chains = graph.find_shortest_chains(importer=low, imported=high)
                        count += len(chains)
    return count


def complexity(root: Path) -> list[tuple[int, str]]:
    """Cyclomatic complexity by radon (decisions and boolean operators), every function and method."""
    from radon.complexity import cc_visit

    found = []
    for folder in ("stock_insights", "api"):
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root)
            if "migrations" in rel.parts or "sandbox" in rel.parts:
                continue
            for block in cc_visit(path.read_text()):
                if block.letter in ("F", "M") and block.complexity > 20:
                    found.append((block.complexity, f"{rel}:{block.fullname}"))
    return sorted(found, reverse=True)


def lines_of_code(root: Path) -> tuple[int, int]:
    loc = ignores = 0
    for folder in ("stock_insights", "api"):
        for path in (root / folder).rglob("*.py"):
            for line in path.read_text().splitlines():
                stripped = line.strip()
                if stripped and not stripped.startswith("#"):
                    loc += 1
                ignores += line.count("type: ignore")
    return loc, ignores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    root = parser.parse_args().root.resolve()
    cycles = package_cycles(root)
    upward = upward_imports(root)
    big = complexity(root)
    loc, ignores = lines_of_code(root)
    print(f"tree: {root}")
    print(f"package cycles: {len(cycles)}" + "".join(f"\n  {' <-> '.join(c)}" for c in cycles))
    print(f"upward import chains (layers of .importlinter): {'no contract' if upward is None else upward}")
    print(f"functions above complexity 20: {len(big)}" + "".join(f"\n  {n:>3} {name}" for n, name in big[:5]))
    print(f"lines of code (stock_insights/, api/): {loc}")
    print(f"type: ignore: {ignores}")


if __name__ == "__main__":
    main()
