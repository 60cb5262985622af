"""The core stays platform-neutral; APScheduler lives in one module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_SDKS = {"slack_bolt", "slack_sdk", "telegram", "microsoft_agents", "microsoft_teams", "botbuilder", "jwt",
                 "nio"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_imports_no_platform_sdk():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & PLATFORM_SDKS)
        for path in (ROOT / "bot").rglob("*.py")
        if imported_modules(path) & PLATFORM_SDKS
    }
    assert offenders == {}


def test_core_imports_no_adapter():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "bot").rglob("*.py") if "adapters" in imported_modules(p)]
    assert offenders == []


def test_apscheduler_only_in_schedule_module():
    users = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "bot").rglob("*.py") if "apscheduler" in imported_modules(p))
    assert users == ["bot/schedule.py"]


def test_detector_sees_a_platform_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from slack_sdk.web import WebClient\n    import telegram.ext\n")
    assert imported_modules(sample) & PLATFORM_SDKS == {"slack_sdk", "telegram"}


def imported_names(path: Path) -> set[str]:
    """Every module ``path`` imports, with its full dotted name, at any depth (functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def core_modules() -> list[Path]:
    features = ROOT / "bot" / "features"
    return [p for p in (ROOT / "bot").rglob("*.py") if features not in p.parents]


def test_core_imports_no_feature_module():
    offenders = {
        str(p.relative_to(ROOT)): sorted(n for n in imported_names(p) if n == "bot.features" or n.startswith("bot.features."))
        for p in core_modules()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_detector_sees_a_feature_import_inside_a_function(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from bot.features import rhythm\n    from bot.features.network import chats_of\n")
    assert {"bot.features.rhythm", "bot.features.network"} <= imported_names(sample)


#: module-level statements a feature module may have: imports, definitions, constants, its docstring
DECLARATIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def side_effects(path: Path) -> list[str]:
    """Module-level statements of ``path`` that change something (calls, item or attribute assignment)."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, DECLARATIONS):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
            if all(isinstance(n, ast.Name) for n in names):
                continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:60]}")
    return found


def test_feature_modules_are_values_without_import_time_work():
    features = ROOT / "bot" / "features"
    assert [s for p in sorted(features.rglob("*.py")) for s in side_effects(p)] == []


def test_detector_sees_registration_at_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("HOOKS = []\nHOOKS.append(print)\nTABLE = {}\nTABLE['x'] = 1\nother.LIST += [1]\n")
    assert len(side_effects(sample)) == 3


def test_every_feature_module_exposes_one_feature_and_the_root_lists_them_all():
    from bamboe.features import FEATURES
    from bot.registry import Feature, Registry

    modules = sorted(p.stem if p.name != "__init__.py" else p.parent.name
                     for p in (ROOT / "bot" / "features").glob("*/__init__.py"))
    modules += sorted(p.stem for p in (ROOT / "bot" / "features").glob("*.py") if p.name != "__init__.py")
    listed = [f.name for f in FEATURES]
    assert sorted(listed) == sorted(modules)
    assert all(isinstance(f, Feature) for f in FEATURES)
    registry = Registry.of(FEATURES)  # names, aliases, job kinds and button prefixes are unique
    assert "pauze" in registry.table and "pause" in registry.table and "nudge" in registry.jobs
