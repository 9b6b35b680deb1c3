"""The layout of the test suite: no file under tests/ imports a test module (``test_*``).
What several test modules share lives in tests/support/ (or a conftest), so that a test
module can be run, moved or deleted alone."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _is_test_module(name: str) -> bool:
    parts = [p for p in name.split(".") if p]
    return (name.startswith(".") or parts[:1] == ["tests"]) \
        and any(p.startswith("test_") for p in parts)


def _imported_test_modules(tree: ast.AST) -> list[str]:
    """The dotted names of the ``test_*`` modules a module's imports name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_test_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if _is_test_module(base):
                found.append(base)
                continue
            joined = [f"{base}.{a.name}" if node.module else f"{base}{a.name}"
                      for a in node.names]
            found += [name for name in joined if _is_test_module(name)]
    return found


def test_no_file_under_tests_imports_a_test_module():
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        hits = _imported_test_modules(ast.parse(path.read_text(encoding="utf-8")))
        if hits:
            offenders[str(path.relative_to(TESTS.parent))] = sorted(set(hits))
    assert not offenders, ("test modules imported (move what they share to tests/support/): "
                           f"{offenders}")


def test_the_check_finds_each_way_of_importing_a_test_module():
    sources = {
        "from tests.unit.test_cases import FULL_CASE": ["tests.unit.test_cases"],
        "import tests.unit.test_cases": ["tests.unit.test_cases"],
        "from tests.unit import test_cases": ["tests.unit.test_cases"],
        "from .test_cases import FULL_CASE": [".test_cases"],
        "from . import test_cases": [".test_cases"],
        "def f():\n    from tests.reference.test_r_export import run_in_r\n":
            ["tests.reference.test_r_export"],
    }
    for source, expected in sources.items():
        assert sorted(set(_imported_test_modules(ast.parse(source)))) == expected, source
    for fine in ("from tests.support.r import run_in_r", "from tests.app.conftest import APP",
                 "import pytest", "from crlm.cases import table", "from . import conftest"):
        assert _imported_test_modules(ast.parse(fine)) == [], fine
