"""The core stays platform-neutral; APScheduler lives in one module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_SDKS = {"slack_bolt", "slack_sdk", "telegram", "nio"}


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
