"""The architecture holds: layers import downwards only, no cycles, one module spells names.

Layers, in the order data flows: core → project → artefacts → runtime → servers → checks →
lifecycle → helm → harness → commands, and last the pytest plugin (testing) that service suites use.
Each package's docstring states exactly the layers it may import, and the tests hold it.
Every import counts, also one inside a function (a lazy import does not dodge the rule).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "courtyard"
LAYERS = [
    "core",
    "project",
    "artefacts",
    "runtime",
    "servers",
    "checks",
    "lifecycle",
    "helm",
    "harness",
    "commands",
    "testing",
]
NAMING = PACKAGE / "project" / "naming.py"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """Every courtyard module `path` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("courtyard")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("courtyard"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return found


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


GRAPH = {name: imported_modules(path) for name, path in MODULES.items()}


def test_every_module_lives_in_a_layer():
    loose = [name for name in MODULES if name != "courtyard" and layer_of(name) is None]
    assert loose == [], "modules outside the layer packages"
    assert GRAPH["courtyard"] == set(), "the top package imports nothing"


MAY_IMPORT = re.compile(r"^May import: (.*)\.$", re.MULTILINE)


def stated_imports(doc: str) -> list[str] | None:
    """The layers a package docstring's "May import: a, b, c." line names; None without one."""
    found = MAY_IMPORT.search(doc)
    if found is None:
        return None
    listed = found.group(1)
    return [] if listed == "nothing from courtyard" else [p.strip() for p in listed.split(",")]


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_says_what_it_owns_and_exactly_what_it_may_import(layer):
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
    assert len(doc.splitlines()) >= 3, doc
    assert stated_imports(doc) == LAYERS[: LAYERS.index(layer)], doc


def test_the_top_docstring_lists_the_layers_in_order():
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())) or ""
    assert " → ".join(LAYERS) in " ".join(doc.split()), doc


def test_the_may_import_check_can_fail():
    assert stated_imports("Runtime.\n\nMay import: core, spec, artefacts.") != LAYERS[:3]
    assert stated_imports("Runtime: imports what it needs.") is None


def upward_edges(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if layer_of(source) is not None
        and layer_of(target) is not None
        and layer_of(target) > layer_of(source)
    ]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle found by a depth-first walk, as the path that closes it."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_layer_imports_a_higher_one():
    assert upward_edges(GRAPH) == []


def test_there_is_no_import_cycle():
    assert cycles(GRAPH) == []


def test_the_graph_checks_can_fail():
    bad = {
        "courtyard.project.a": {"courtyard.checks.b"},
        "courtyard.checks.b": {"courtyard.project.a"},
    }
    assert upward_edges(bad) == ["courtyard.project.a -> courtyard.checks.b"]
    assert cycles(bad) == [["courtyard.checks.b", "courtyard.project.a", "courtyard.checks.b"]]


# One speller of names -----------------------------------------------------------------------
# Each pattern is a name (or a piece of one) that only courtyard/project/naming.py may build.
NAME_PATTERNS = {
    "label key": r"io\.skunkwolf\.courtyard|com\.docker\.compose",
    "a name built on the courtyard prefix": r"""f["']courtyard[-/][^"'\n]*\{""",
    "host port arithmetic": r"host_ports\.\w+\s*[+]|[+]\s*[\w.]*host_ports\.\w+",
    "a localhost client URL": r"tls://localhost",
    "a host monitoring URL": r"http://127\.0\.0\.1",
    "a container mount path": r"""["']/(etc/nats|probe|data)\b""",
    "a Kubernetes service name": r"-headless|\.svc\.",
    "the default client identity": r"tls\.clients\[0\]",
}


def code_only(text: str) -> str:
    """The source without comments and docstrings: what runs, not what explains it."""
    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            docstrings.add((first.lineno, first.col_offset))
    kept = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            continue
        if token.type == tokenize.STRING and token.start in docstrings:
            continue
        kept.append(token)
    return tokenize.untokenize(kept)


def names_built_in(text: str) -> list[str]:
    code = code_only(text)
    return [what for what, pattern in NAME_PATTERNS.items() if re.search(pattern, code)]


@pytest.mark.parametrize("module", [name for name, path in MODULES.items() if path != NAMING])
def test_only_the_naming_module_spells_names(module):
    assert names_built_in(MODULES[module].read_text()) == []


@pytest.mark.parametrize(
    ("snippet", "what"),
    [
        ('LABEL = "io.skunkwolf.courtyard.role"\n', "label key"),
        ('net = f"courtyard-{fullname}"\n', "a name built on the courtyard prefix"),
        ("port = spec.host_ports.client + index\n", "host port arithmetic"),
        ('url = f"tls://localhost:{port}"\n', "a localhost client URL"),
        ('url = f"http://127.0.0.1:{port}/jsz"\n', "a host monitoring URL"),
        ('path = "/etc/nats-config/nats.conf"\n', "a container mount path"),
        ('host = f"{fullname}-headless"\n', "a Kubernetes service name"),
        ("who = spec.tls.clients[0]\n", "the default client identity"),
    ],
)
def test_the_names_check_can_fail(snippet, what):
    assert names_built_in(f'"""A module."""\n# {snippet}{snippet}') == [what]
    assert names_built_in(f'"""A module that says {snippet.strip()} in prose."""\n') == []


# checks/ only asks ----------------------------------------------------------------------
# What changes a node or the disk: signals and lifecycle calls on a container, writing files
# or records. The checks ask the servers and the engine; acting is runtime's and servers'.
ACTIONS = re.compile(
    r"\.(kill|pause|stop|restart|disconnect)\(|\bwrite_file\b|\brecord_(digest|loaded)\b"
    r"|\.write_(text|bytes)\("
)
CHECKS = [name for name in MODULES if name.startswith("courtyard.checks.")]


def actions_in(text: str) -> list[str]:
    return [match.group(0) for match in ACTIONS.finditer(code_only(text))]


@pytest.mark.parametrize("module", CHECKS)
def test_checks_only_ask(module):
    assert actions_in(MODULES[module].read_text()) == []


def test_the_checks_only_ask_rule_can_fail():
    assert actions_in('"""A module."""\ncontainer.kill(signal="SIGHUP")\n') == [".kill("]
    assert actions_in('"""A module."""\nrecord_loaded(project, 0)\n') == ["record_loaded"]
    assert actions_in('"""A module that says container.kill() in prose."""\n') == []
