"""The import layering of style.md: no subpackage imports upward (walked with ast)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "hpskit"

# subpackage -> subpackages it may import
ALLOWED = {
    "core": set(),
    "geometry": {"core"},
    "body": {"core", "geometry"},
    "render": {"core", "geometry"},
    "encoders": {"core", "geometry"},
    "decoders": {"core", "geometry"},
    "attention": {"core", "geometry"},
    "heads": {"core", "geometry"},
    "losses": {"core", "geometry", "body"},
    "metrics": {"core", "geometry", "body"},
    "hub": {"core"},
    "data": {"core", "geometry", "body", "render", "losses", "metrics"},
    "models": {"core", "geometry", "body", "render", "encoders", "decoders", "attention", "heads",
               "losses", "metrics", "hub"},
    "viz": {"core", "geometry", "body", "render"},
    "engine": {"core", "geometry", "body", "render", "encoders", "decoders", "attention", "heads", "losses",
               "metrics", "hub", "data", "models"},  # training utilities: everything but cli
    "export": {"core", "geometry", "body"},
    "video": {"core", "geometry", "body", "render", "models", "export", "detect"},
    "cli": None,  # anything
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


def test_no_upward_imports():
    bad = []
    for sub in sorted(p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("_")):
        allowed = ALLOWED.get(sub.name)
        assert sub.name in ALLOWED, f"new subpackage {sub.name}: add it to ALLOWED"
        if allowed is None:
            continue
        for f in sub.rglob("*.py"):
            for imp in _imports(f) - allowed - {sub.name}:
                bad.append(f"{f.relative_to(ROOT.parent)} imports hpskit.{imp}")
    assert not bad, "\n".join(bad)


def test_nothing_imports_recipes_or_tests():
    for f in ROOT.rglob("*.py"):
        src = f.read_text()
        for word in ("import recipes", "from recipes", "import tests", "from tests", "import examples"):
            assert word not in src, f"{f} mentions '{word}'"
