"""The layout holds: read from the source with ``ast``, so a new import that breaks it fails here.

- no circle among the project's modules, counting imports inside functions too (a
  function-level import only hides a circle, it does not break it);
- ``storyteller/pipeline`` never imports Flask, nor the layers above it (web, jobs, store, app, cli);
- no module in ``storyteller/pipeline`` is over 400 lines;
- every error the pipeline defines is one a participant may read (``UserError``) or the one ``Cancelled``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from storyteller.errors import Cancelled, UserError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "storyteller"
MAX_PIPELINE_LINES = 400
ABOVE_PIPELINE = ("storyteller.web", "storyteller.jobs", "storyteller.store", "storyteller.app", "storyteller.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PIPELINE = sorted(m for m in MODULES if m.startswith("storyteller.pipeline."))


def imported_names(source: str, package: str) -> set[str]:
    """Every module name an import statement anywhere in ``source`` asks for (absolute, dotted);
    ``package`` is the package the file is in, for relative imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # "from package import module"
    return names


def imports_of(path: Path) -> set[str]:
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    return imported_names(path.read_text(encoding="utf-8"), package)


def project_imports(path: Path) -> set[str]:
    """The project modules a file imports (a name that is not a module, such as a class, is skipped)."""
    return {n for n in imports_of(path) if n in MODULES and n != module_name(path)}


GRAPH = {m: project_imports(p) for m, p in MODULES.items()}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_reader_sees_module_and_function_level_imports():
    # The checks below are only as good as this reading: it must see every kind of import.
    source = """
import storyteller.config
from storyteller.pipeline.voice import methods as voice
from . import probe


def later():
    from storyteller.pipeline.render.encode import render_story
"""
    names = imported_names(source, "storyteller.pipeline.media")
    assert {
        "storyteller.config",
        "storyteller.pipeline.voice.methods",
        "storyteller.pipeline.media.probe",
        "storyteller.pipeline.render.encode",
    } <= names
    assert "storyteller.pipeline.voice.methods" in GRAPH["storyteller.pipeline.faces.video"]
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_among_the_projects_modules():
    circle = find_circle(GRAPH)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_pipeline_never_imports_flask_nor_the_layers_above_it():
    offenders = []
    for m in PIPELINE:
        for name in imports_of(MODULES[m]):
            top = name.split(".")[0]
            if top in ("flask", "flask_babel", "flask_wtf", "werkzeug") or name.startswith(ABOVE_PIPELINE):
                offenders.append(f"{m} imports {name}")
    assert not offenders, offenders


def test_no_pipeline_module_over_400_lines():
    long = {m: n for m in PIPELINE if (n := len(MODULES[m].read_text(encoding="utf-8").splitlines())) > MAX_PIPELINE_LINES}
    assert not long, long


def test_every_pipeline_error_is_readable_or_the_one_cancel():
    strays = []
    for m in PIPELINE:
        module = importlib.import_module(m)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == m:
                if not issubclass(obj, (UserError, Cancelled)):
                    strays.append(f"{m}.{name}")
    assert not strays, strays
