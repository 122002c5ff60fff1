"""The package layout cannot silently decay (DESIGN.md, "Package layout").

Walks every module of ``httpx_resilient``, reads its imports (those inside functions and
under ``TYPE_CHECKING`` included: a cycle hidden there is still a cycle for a reader) and
fails on an import cycle, on a layer folder importing another layer folder, or on
``_core`` importing anything above it.
"""

from __future__ import annotations

import ast
import pathlib

import httpx_resilient

PACKAGE = pathlib.Path(httpx_resilient.__file__).parent
ROOT = "httpx_resilient"
LAYERS = frozenset({"_ratelimit", "_breaker", "_retry", "_cache", "_dedup", "_queue", "_metrics"})


def module_name(path: pathlib.Path) -> str:
    parts = [ROOT, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, pathlib.Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports (a submodule when one is named)."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in known:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def folder(module: str) -> str | None:
    """The top folder of a module; a generated httpx2 twin is judged as its source."""
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "httpx2":
        parts = parts[1:]
    return parts[1] if len(parts) > 1 else None


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_layer_folders_never_import_each_other() -> None:
    bad = [
        f"{src} -> {dst}"
        for src, targets in graph().items()
        for dst in targets
        if folder(src) in LAYERS and folder(dst) in LAYERS and folder(src) != folder(dst)
    ]
    assert bad == []


def test_core_imports_no_layer_and_nothing_above() -> None:
    bad = [
        f"{src} -> {dst}"
        for src, targets in graph().items()
        for dst in targets
        if folder(src) == "_core" and folder(dst) != "_core"
    ]
    assert bad == []


def test_every_folder_is_a_package_and_modules_stay_small() -> None:
    for directory in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir())]:
        if directory.name != "__pycache__":
            assert (directory / "__init__.py").exists(), directory
    long = [
        f"{p.relative_to(PACKAGE)}: {n}"
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 330
    ]
    assert long == []


def test_the_checks_can_fail() -> None:
    """The cycle finder and the resolver see what they are meant to see."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    edges = graph()
    assert f"{ROOT}._ratelimit.transport" in edges
    assert f"{ROOT}._core.clock" in edges[f"{ROOT}._ratelimit.transport"]
    assert f"{ROOT}.testing._fakeclock" in edges[f"{ROOT}.testing"]


def test_the_generated_face_mirrors_source_modules() -> None:
    """Each module of httpx_resilient/httpx2/ is the generated twin of a source module
    (its header names it), or a folder's ``__init__``: no hand-written code hides there."""
    root = PACKAGE.parent
    for path in (PACKAGE / "httpx2").rglob("*.py"):
        first = path.read_text().splitlines()[0]
        if first.startswith('"""Generated twins of the face modules of'):
            assert path.name == "__init__.py", path
            continue
        prefix = "# Generated by scripts/gen_httpx2.py from "
        assert first.startswith(prefix), path
        source = root / first[len(prefix) :].split(":")[0]
        assert source.exists(), path
