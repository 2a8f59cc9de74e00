"""The import layering of style.md: no subpackage imports upward (walked with ast)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "hpskit"

# subpackage -> the hpskit subpackages it imports: exactly the graph (a test below checks both ways, so an
# entry can neither be missing nor unused). Adding an edge is a design decision: make it here, on purpose.
# core is the leaf; blocks (encoders, decoders, attention, heads) see only core and geometry; no block imports
# another block; render sees core, geometry and body (the training panels draw parts in the body's palette);
# models assembles blocks; engine (the training step and evaluation loops of a model) sits on models, data,
# losses and metrics; cli sits on top.
ALLOWED = {
    "core": set(),
    "geometry": {"core"},
    "body": {"core", "geometry"},
    "render": {"core", "geometry", "body"},
    "encoders": {"core"},
    "decoders": {"core"},
    "attention": {"core"},
    "heads": {"core", "geometry"},
    "losses": {"core", "geometry"},
    "metrics": {"core", "geometry", "body"},
    "hub": {"core"},
    "detect": {"core"},
    "data": {"core", "geometry", "body", "render"},
    "models": {"core", "geometry", "body", "encoders", "decoders", "attention", "heads", "hub", "detect"},
    "engine": {"core", "body", "data", "losses", "metrics", "models"},
    "export": {"core", "body"},
    "video": {"core", "render", "export", "detect"},
    "cli": {"core", "geometry", "body", "render", "hub", "models", "detect", "export", "video"},
    "testing": {"geometry", "body", "render", "data"},  # test support: nothing imports it
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    pkg_parts = path.relative_to(ROOT.parent).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("hpskit."):
                    out.add(a.name.split(".")[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("hpskit."):
                out.add(node.module.split(".")[1])
            elif node.level > 0:
                base = pkg_parts[: len(pkg_parts) - node.level]
                mod = list(base) + (node.module.split(".") if node.module else [])
                if len(mod) >= 2 and mod[0] == "hpskit":
                    out.add(mod[1])
                elif len(mod) == 1 and node.names:
                    out.update(a.name for a in node.names)
    return out


def _subpackages() -> list[Path]:
    return sorted(p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("_")
                  and (p / "__init__.py").exists())


def test_no_upward_imports():
    bad = []
    for sub in _subpackages():
        assert sub.name in ALLOWED, f"new subpackage {sub.name}: add it to ALLOWED"
        for f in sub.rglob("*.py"):
            for imp in _imports(f) - ALLOWED[sub.name] - {sub.name}:
                bad.append(f"{f.relative_to(ROOT.parent)} imports hpskit.{imp}")
    assert not bad, "\n".join(bad)


def test_allow_list_is_exactly_the_import_graph():
    """No allowed edge goes unused and no listed package is missing: ALLOWED is the graph, not a bound."""
    names = {p.name for p in _subpackages()}
    assert set(ALLOWED) == names, f"ALLOWED lists {sorted(set(ALLOWED) - names)} that do not exist"
    for sub in _subpackages():
        used = set().union(*(_imports(f) for f in sub.rglob("*.py"))) & names - {sub.name}
        assert used == ALLOWED[sub.name], (f"{sub.name}: imports {sorted(used)}, ALLOWED says "
                                           f"{sorted(ALLOWED[sub.name])}")


def test_nothing_imports_recipes_or_tests():
    for f in ROOT.rglob("*.py"):
        src = f.read_text()
        for word in ("import recipes", "from recipes", "import tests", "from tests", "import examples"):
            assert word not in src, f"{f} mentions '{word}'"
