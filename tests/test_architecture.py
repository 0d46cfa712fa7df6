"""
The house keeps its shape (ARCHITECTURE.md): no module imports another that
imports it back, however indirectly, and each layer of ``course/`` imports
only the layers below it. Imports inside functions count: a circle hidden in a
function is still a circle.
"""
import ast
import subprocess
from pathlib import Path

import pytest

from course import REPO_ROOT

PACKAGES = ("course", "autograder", "hw")

# What each part of the repository must never import (ARCHITECTURE.md's code map says why).
NEVER = {
    "hw": ("course", "autograder"),  # the students' package stands alone
    "course.records": ("course.grading", "course.reports", "course.authoring", "course.cli"),
    "course.reports": ("course.grading.run", "course.grading.suite", "course.grading.sandbox", "course.grading.cluster",
                       "course.grading.gradescope", "course.authoring", "course.cli"),  # fmt: skip
    "course.grading": ("course.authoring", "course.cli"),
    "course.grading.worker": ("course", "autograder", "hw"),  # a standalone script in the sandbox
    # The suite reads the reference tensors and their explicit weights (course.authoring.assets), nothing else of authoring.
    "autograder": ("course.reports", "course.cli", "course.grading.run", "course.authoring.release",
                   "course.authoring.validate", "course.authoring.targets", "course.authoring.examples"),
}


def module_files():
    files = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    return files


def imports_of(name: str, path: Path, known) -> set:
    """The modules of ``known`` that ``name`` imports anywhere (``from a import b``: a.b when that is a module, else a)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return {m for m in found if m in known and m != name}


@pytest.fixture(scope="module")
def graph():
    files = module_files()
    return {name: imports_of(name, path, files) for name, path in files.items()}


def strongly_connected(graph) -> list:
    """Tarjan's algorithm, iterative: the groups of modules that reach each other."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def test_the_circle_finder_finds_a_circle():
    groups = strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert sorted(map(sorted, groups)) == [["a", "b", "c"], ["d"]]


def test_no_module_imports_one_that_imports_it_back(graph):
    circles = [sorted(g) for g in strongly_connected(graph) if len(g) > 1]
    assert circles == [], "modules that import each other (directly or through others): " + "; ".join(
        " <-> ".join(c) for c in circles)


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize("part", sorted(NEVER))
def test_each_layer_imports_only_what_it_may(graph, part):
    wrong = sorted(f"{m} imports {d}" for m, deps in graph.items() if within(m, part)
                   for d in deps for banned in NEVER[part] if within(d, banned))  # fmt: skip
    assert wrong == [], f"{part} must not import {', '.join(NEVER[part])}: " + "; ".join(wrong)


def tracked_folders() -> set:
    """The repository's top-level folders that hold files under version control (not what grading or a build made)."""
    listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return {line.split("/")[0] for line in listed.splitlines() if "/" in line and not line.startswith(".")}


def test_the_map_names_every_folder_and_package():
    text = (REPO_ROOT / "ARCHITECTURE.md").read_text()
    folders = sorted(tracked_folders())
    packages = [f"course/{p.name}/" for p in (REPO_ROOT / "course").iterdir() if (p / "__init__.py").exists()]
    missing = [name for name in folders + packages if f"`{name.rstrip('/')}/`" not in text]
    assert missing == [], f"ARCHITECTURE.md does not name: {missing}"
