"""The house's layers: nothing lower imports anything higher (funnel/__init__.py).

domain < storage < client < runtime < the packages above (workflows, activities, worker,
starter, api, analytics, web); the packages above do not import the CLI (starter) either, which
stands on top of them all."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RANKS = {
    "funnel.domain": 0,
    "funnel.storage": 1,
    "funnel.client": 2,
    "funnel.runtime": 3,
    "workflows": 4,
    "activities": 4,
    "analytics": 4,
    "api": 4,
    "web": 4,
    "worker": 4,
    "starter": 5,
}


def _rank(module: str) -> int | None:
    for prefix, rank in sorted(RANKS.items(), key=lambda item: -len(item[0])):
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_no_layer_imports_a_higher_one() -> None:
    wrong: list[str] = []
    for path in sorted(ROOT.glob("**/*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {".venv", "tests", "bench", "migrations", "build"}:
            continue
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        own = _rank(module)
        if own is None:
            continue
        for imported in _imports(path):
            theirs = _rank(imported)
            if theirs is not None and theirs > own:
                wrong.append(f"{relative} imports {imported}")
    assert not wrong, "\n".join(wrong)
