"""The shape of the tree holds as it grows: imports flow one way, files hold one idea.

Layers, lowest first (docs/architecture.md): core ← store ← infra ← services ← controllers | gateway.
A module may import its own layer and those below it; controllers and gateway are siblings and never
import each other. Only the composition root (the top-level modules and cli/) knows every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import moorage

PACKAGE = Path(moorage.__file__).parent
MAY_IMPORT = {
    "core": {"core"},
    "store": {"core", "store"},
    "infra": {"core", "store", "infra"},
    "services": {"core", "store", "infra", "services"},
    "controllers": {"core", "store", "infra", "services", "controllers"},
    "gateway": {"core", "store", "infra", "services", "gateway"},
}
# Generated or data files may be longer; none are today.
MAX_LINES = 600
LONGER_FILES: set[str] = set()


def _module(path: Path) -> list[str]:
    parts = ["moorage", *path.relative_to(PACKAGE).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> list[str]:
    module = _module(path)
    package = module if path.name == "__init__.py" else module[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.append(".".join(base + ([node.module] if node.module else [])))
            else:
                found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [name for name in found if name == "moorage" or name.startswith("moorage.")]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in MAY_IMPORT else None


def test_no_module_imports_a_layer_above_its_own():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 50  # the walk found the tree
    upward = []
    for path in sources:
        layer = _layer(".".join(_module(path)))
        if layer is None:
            continue  # the composition root: may import anything
        for target in _imports(path):
            if target == "moorage":
                continue  # the package itself: __version__
            if _layer(target) not in MAY_IMPORT[layer]:
                upward.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert upward == [], "imports against the one-way flow:\n" + "\n".join(upward)


def test_no_source_file_holds_more_than_one_idea_by_size():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES and str(path.relative_to(PACKAGE)) not in LONGER_FILES
    }
    assert long == {}, f"split these by idea (over {MAX_LINES} lines): {long}"



def test_the_architecture_map_lists_every_module_and_nothing_else():
    doc = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text()
    block = doc.split("## Map of the tree", 1)[1].split("```", 2)[1]
    mapped = {line.split()[0] for line in block.splitlines() if line.strip() and not line.startswith("#")}
    tree = {
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
        if path.name != "__main__.py" and (path.name != "__init__.py" or path.parent.name == "pki")
    }
    assert sorted(mapped - tree) == [], "docs/architecture.md maps modules that are gone"
    assert sorted(tree - mapped) == [], "docs/architecture.md's map misses these modules"
