"""The package's import rules (STYLE.md "The map"), read from the source with ``ast``.

Imports go downward only and never in a circle, so a job worker can import a domain
module without pulling in the views; the pure rule modules import no Flask; only the
facade wires the views; nothing in the package imports the example site. Imports under
``if TYPE_CHECKING:`` are for type hints only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "flask_ome_privacy"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: How high each module sits; a module may import its own level or below, never above.
LEVELS: dict[str, int] = {
    # pure: no Flask, no database
    "labelled": 0,
    "sources": 0,
    "policy_text": 0,
    "deficiency": 1,
    "decisions": 2,
    "purposes": 1,
    "lifecycle": 1,
    # tables, settings, low-level helpers
    "models": 1,
    "signals": 1,
    "config": 1,
    "i18n": 1,
    "locks": 2,
    "migrate": 2,
    "state": 2,
    "audit": 3,
    "documents": 3,
    "mail": 4,  # hands its messages to the job layer (jobs)
    "jobs": 4,
    # domain
    "consents": 4,
    "provisions": 4,
    "notify": 4,
    "holdings": 5,
    "privacy_requests": 5,
    "stops": 4,
    "request_decisions": 5,
    "execution": 6,
    "disclosure": 6,
    "withdrawal": 5,
    "drafts": 6,
    "retention": 5,
    "report": 6,
    "export": 6,
    "requester_actions": 6,
    "identity_checks": 6,
    "deficiency_notices": 6,
    "staff_queue": 6,
    "reauth": 4,
    "forms": 4,
    # HTTP and command line, then the facade on top
    "views": 7,
    "cli": 7,
    "extension": 8,
    "__init__": 9,
}
PURE = {"labelled", "sources", "purposes", "lifecycle", "policy_text", "deficiency", "decisions"}
#: Optional dependencies (an install extra): imported where used, so the package works without them.
OPTIONAL_DEPENDENCIES = {"rq", "redis"}
#: Where the views may be imported from.
MAY_IMPORT_VIEWS = {"extension", "views"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in the file, except TYPE_CHECKING ones."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from . import audit`` imports the module ``audit`` (its package is loaded anyway)
            submodules = [f"{target}.{a.name}" for a in node.names if _module_path(f"{target}.{a.name}")]
            found.extend((module, node.lineno) for module in submodules)
            if len(submodules) < len(node.names):
                found.append((target, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def _module_path(name: str) -> Path | None:
    if not name.startswith(PACKAGE):
        return None
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    for candidate in (ROOT / relative / "__init__.py", (ROOT / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def package_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.relative_to(ROOT).parts)


def top(name: str) -> str:
    """``flask_ome_privacy.views.sns`` → ``views``; the package itself → ``__init__``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in package_files():
        name = module_name(path)
        edges[name] = {
            target
            for target, _line in imports_of(path)
            if _module_path(target) is not None and target != name and not name.startswith(target + ".")
        }
    return edges


def test_every_module_has_a_level() -> None:
    missing = sorted({top(module_name(p)) for p in package_files()} - set(LEVELS))
    assert not missing, f"add these modules to LEVELS (and to STYLE.md's map): {missing}"


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node)
    return cycles


def test_no_import_cycles() -> None:
    cycles = find_cycles(graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_imports_go_downward_only() -> None:
    upward = []
    for path in package_files():
        name = module_name(path)
        for target, line in imports_of(path):
            if _module_path(target) is None or top(target) == top(name):
                continue
            if LEVELS[top(target)] > LEVELS[top(name)]:
                upward.append(f"{path.relative_to(ROOT.parent)}:{line} imports {target}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_only_the_facade_imports_the_views() -> None:
    offenders = [
        f"{path.relative_to(ROOT.parent)}:{line}"
        for path in package_files()
        for target, line in imports_of(path)
        if top(target) == "views"
        and target.startswith(PACKAGE + ".views")
        and top(module_name(path)) not in MAY_IMPORT_VIEWS
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_import_no_flask(module: str) -> None:
    path = ROOT / f"{module}.py"
    flask_imports = [
        f"{module}.py:{line} imports {target}"
        for target, line in imports_of(path)
        if target.split(".")[0].startswith("flask")
        and not target.startswith(PACKAGE)
        or target.startswith(PACKAGE + ".")
        and top(target) not in PURE
    ]
    assert not flask_imports, flask_imports


def test_views_hold_no_sql() -> None:
    """Views parse HTTP, call one domain function and render: queries live in the domain modules."""
    offenders = [
        f"{path.relative_to(ROOT.parent)}:{line} imports {target}"
        for path in package_files()
        if top(module_name(path)) == "views"
        for target, line in imports_of(path)
        if target.split(".")[0] == "sqlalchemy" or target == f"{PACKAGE}.models"
    ]
    assert not offenders, offenders


def test_nothing_imports_the_example_site() -> None:
    offenders = [
        f"{path.relative_to(ROOT.parent)}:{line}"
        for path in package_files()
        for target, line in imports_of(path)
        if target.split(".")[0] in ("example_app", "tests", "bench")
    ]
    assert not offenders, offenders


def _optional(node: ast.Import | ast.ImportFrom) -> bool:
    """An import of an optional dependency (``OPTIONAL_DEPENDENCIES``), which may be deferred."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return False
        names = [node.module or ""]
    else:
        names = [alias.name for alias in node.names]
    return all(name.split(".")[0] in OPTIONAL_DEPENDENCIES for name in names)


def test_imports_inside_functions_are_for_optional_dependencies_only() -> None:
    """Module-level imports make the layering visible; a deferred import hides a cycle."""
    deferred = []
    for path in package_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and not _optional(node):
                        deferred.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not deferred, deferred


def test_the_checker_sees_cycles_and_relative_imports() -> None:
    """The rules above can fail: a circle is found, and relative imports resolve to modules."""
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    found = dict(imports_of(ROOT / "views" / "sns.py"))
    assert f"{PACKAGE}.withdrawal" in found
    assert f"{PACKAGE}.state" in found
