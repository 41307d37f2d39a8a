"""The layout keeps its promises: SQL text only where it belongs, subdomains in their rooms.

- SQL text lives in `core/store/` (the one helper layer, whose statements are built from the
  models) and in each subdomain's `queries.py`; nowhere else in `core/` or `web/`.
- The plugin-facing API stays at `core/`'s top, and the bundled plugins import from it (and
  from the few deeper modules `docs/plugins.md` names), never a subdomain's internals.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SQL = re.compile(
    r"\b(SELECT\s.+\bFROM\b|SELECT\s+(1|pg_notify|count)\b|INSERT\s+INTO|UPDATE\s+\w+\s+SET|"
    r"DELETE\s+FROM|ON\s+CONFLICT|FOR\s+UPDATE|LISTEN\s+\w+|NOTIFY\s+\w+)",
    re.DOTALL,
)
SUBDOMAINS = ("catalog", "checkout", "ingest", "billing", "delivery", "managing", "reconcile")
STABLE_API = {
    "core",
    "core.config",
    "core.consumers",
    "core.errors",
    "core.events",
    "core.facts",
    "core.hookspecs",
    "core.providers",
    "core.timeutil",
}
PLUGIN_REACH = {
    "core.models": "the bundled plugins that keep their own rows (sandbox, import progress)",
    "core.store.db": "`payments import funnel-billing` connects like every other command",
    "core.store.unit_of_work": "the sandbox and the import write in units of work",
    "core.ingest.apply": "the import applies legacy rows through `apply_facts`",
    "core.ingest.appliers.context": "the import reads what `apply_facts` did",
    "core.billing.plan_cache": "the import's own plan moves tell plan-status caches",
    "core.billing.plan_status": "the sandbox's return page shows plan status as products read it",
}
"""Deeper modules a bundled plugin may import, and why (`docs/plugins.md` says the same)."""


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    docstrings = {  # a string standing alone as a statement: a docstring, also of an attribute
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def _sql_allowed(path: Path) -> bool:
    relative = path.relative_to(REPO).as_posix()
    return relative.startswith("core/store/") or path.name == "queries.py"


def test_sql_text_lives_only_in_the_store_and_the_queries_modules() -> None:
    found: list[str] = []
    for path in sorted([*REPO.glob("core/**/*.py"), *REPO.glob("web/**/*.py")]):
        if _sql_allowed(path):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for line, text in _strings(tree):
            if SQL.search(text):
                found.append(f"{path.relative_to(REPO)}:{line}: {text.strip()[:60]!r}")
    assert found == [], "SQL text outside a queries module:\n" + "\n".join(found)


def test_the_check_sees_sql_where_it_is() -> None:
    """The pattern finds the statements of the queries modules (it is not blind)."""
    for path in REPO.glob("core/*/queries.py"):
        texts = [text for _, text in _strings(ast.parse(path.read_text()))]
        assert any(SQL.search(text) for text in texts), path


def test_every_subdomain_is_a_package_with_a_docstring() -> None:
    for name in (*SUBDOMAINS, "store"):
        init = REPO / "core" / name / "__init__.py"
        assert init.is_file(), init
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} says what it holds"


def _core_imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "core" or node.module.startswith("core."):
                folder = REPO.joinpath(*node.module.split("."))
                for alias in node.names:
                    submodule = (folder / f"{alias.name}.py").is_file()
                    yield f"{node.module}.{alias.name}" if submodule else node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "core")


def test_bundled_plugins_import_the_stable_api_or_a_named_exception() -> None:
    wrong: list[str] = []
    for path in sorted(REPO.glob("plugins/*/*/**/*.py")):
        if "egg-info" in path.as_posix():
            continue
        for module in _core_imports(path):
            if module not in STABLE_API and module not in PLUGIN_REACH:
                wrong.append(f"{path.relative_to(REPO)}: {module}")
    assert wrong == [], "plugins reaching into core's internals:\n" + "\n".join(wrong)


PLUGIN_OWNED_MODELS = ("SandboxObject", "ImportProgress")


def test_only_their_plugins_touch_the_tables_plugins_own() -> None:
    """The sandbox's objects and the import's progress live in core/models (docs/decisions.md,
    "Layout") but belong to their plugins: no host module names them."""
    wrong = [
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted([*REPO.glob("core/**/*.py"), *REPO.glob("web/**/*.py")])
        if not path.relative_to(REPO).as_posix().startswith("core/models/")
        for name in PLUGIN_OWNED_MODELS
        if re.search(rf"\b{name}\b", path.read_text())
    ]
    assert wrong == []
