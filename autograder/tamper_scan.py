"""
Static scan of a submission for code that could reach around the grader.

The worker refuses PyTorch's convolution and autograd where a part forbids
them, and the harness judges only data; but student code shares the worker's
process with the probes, so code that reaches torch's internals, the
interpreter's frames or the grader's channel could still fake a result. Such
code has no place in a homework solution, so the scan flags it for a person
to look at: the submission's points are withheld until the course staff clear
the flag (``course review``). It runs in the harness on the submission's text
and never imports it.

What it flags, with the line:
- a computed name given to getattr / setattr / delattr / hasattr on anything
  but ``self`` (``getattr(torch, "auto" + "grad")``), and attrgetter or
  ``__getattribute__`` in any form;
- torch's internals and mode switches (``torch._C``, ``torch.ops``,
  ``torch.library``, ``torch.overrides``, ``DisableTorchFunction``, the
  dispatch-mode stack);
- the interpreter's back doors: frames (``sys._getframe``, ``f_back``,
  ``tb_frame``), ``sys.modules``, ``gc``, ``ctypes``, ``inspect``,
  ``importlib``, ``__import__``, ``eval``, ``exec``, ``compile``,
  ``globals()``, ``vars()`` of anything but ``self``, ``__dict__`` of
  anything but ``self``, ``__globals__``, ``__code__``, ``__closure__``,
  ``__builtins__``, ``__subclasses__``;
- raw file descriptors (``os.write``, ``os.fdopen``, ``os.dup2``, ...), the
  way to forge the grader's messages, and paths under ``/proc`` or ``/dev/fd``.
"""
import ast
from dataclasses import dataclass
from pathlib import Path

MAX_SOURCE_BYTES = 1 << 20

REFLECTION_CALLS = {"getattr", "setattr", "delattr", "hasattr"}
FORBIDDEN_CALLS = {
    "eval": "eval()",
    "exec": "exec()",
    "compile": "compile()",
    "__import__": "__import__()",
    "globals": "globals()",
    "locals": "locals()",
    "breakpoint": "breakpoint()",
}
FORBIDDEN_MODULES = {
    "ctypes": "ctypes",
    "_ctypes": "ctypes",
    "cffi": "cffi",
    "gc": "the garbage collector (gc)",
    "inspect": "inspect",
    "importlib": "importlib",
    "builtins": "builtins",
    "marshal": "marshal",
    "dis": "dis",
    # The rules hold in the thread that runs a probe; homework code has no use for threads or processes.
    "threading": "threads (threading)",
    "_thread": "threads (_thread)",
    "concurrent": "threads or processes (concurrent.futures)",
    "asyncio": "asyncio",
    "multiprocessing": "processes (multiprocessing)",
    "subprocess": "processes (subprocess)",
    "signal": "signal handlers (signal)",
    "pty": "pty",
}
# Attributes flagged on any object.
FORBIDDEN_ATTRIBUTES = {
    "_C": "torch._C",
    "_python_dispatch": "torch's dispatch-mode stack",
    "_pop_mode": "torch's dispatch-mode stack",
    "_pop_mode_temporarily": "torch's dispatch-mode stack",
    "_disable_current_modes": "torch's dispatch-mode stack",
    "_unset_dispatch_mode": "torch's dispatch-mode stack",
    "_set_dispatch_mode": "torch's dispatch-mode stack",
    "DisableTorchFunction": "DisableTorchFunction",
    "DisableTorchFunctionSubclass": "DisableTorchFunctionSubclass",
    "_DisableTorchDispatch": "_DisableTorchDispatch",
    "_dynamo": "torch._dynamo",
    "_getframe": "sys._getframe",
    "f_back": "a frame (f_back)",
    "f_globals": "a frame (f_globals)",
    "f_locals": "a frame (f_locals)",
    "f_builtins": "a frame (f_builtins)",
    "tb_frame": "a frame (tb_frame)",
    "gi_frame": "a frame (gi_frame)",
    "cr_frame": "a frame (cr_frame)",
    "__globals__": "__globals__",
    "__code__": "__code__",
    "__closure__": "__closure__",
    "__builtins__": "__builtins__",
    "__subclasses__": "__subclasses__",
    "__getattribute__": "__getattribute__",
    "__setattr__": "__setattr__",
    "__delattr__": "__delattr__",
    "attrgetter": "operator.attrgetter",
    "methodcaller": "operator.methodcaller",
    "CodeType": "types.CodeType",
    "FunctionType": "types.FunctionType",
}
# Attributes flagged on one module only (a model's .modules() is fine, sys.modules is not).
MODULE_ATTRIBUTES = {
    "torch": {name: f"torch.{name}" for name in (
        "ops", "library", "overrides", "jit", "futures", "multiprocessing", "compile",
    )},
    "sys": {name: f"sys.{name}" for name in ("modules", "settrace", "setprofile", "meta_path", "path_hooks", "addaudithook")},
    "os": {name: f"os.{name} (raw file descriptors and processes)" for name in (
        "write", "read", "pipe", "dup", "dup2", "fdopen", "open", "kill", "killpg", "fork", "forkpty", "system",
        "popen", "setsid", "execv", "execve", "execl", "spawnv", "posix_spawn", "setuid",
    )},
}  # fmt: skip
FORBIDDEN_PATHS = ("/proc", "/dev/fd", "/sys/")
# Assigning to an attribute of an imported module or of something imported
# from one changes code the grader runs too (torch.equal = ..., os.write = ...,
# torch.Tensor.__reduce_ex__ = ...). Settings meant to be set are the exception.
SETTABLE = ("torch.backends.",)
OWN_PACKAGE = ("hw.", "hw")  # the submission's own modules may set each other's attributes
SELF = {"self", "cls"}


@dataclass(frozen=True)
class Flag:
    file: str  # relative to the submission, e.g. "hw/layers.py"
    line: int
    what: str

    def describe(self):
        return f"{self.file}:{self.line} uses {self.what}"


def _is_self(node):
    return isinstance(node, ast.Name) and node.id in SELF


def _is_literal_name(node):
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _imported_names(tree):
    """Every name an import binds: `import torch.nn as nn` binds nn, `from os import path` binds path."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node):
    """'torch.Tensor.__eq__' for an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None, None
    return node.id, ".".join(reversed(parts))


def _module_aliases(tree):
    """Names bound to the modules of MODULE_ATTRIBUTES: {"t": "torch"} for `import torch as t`."""
    aliases = {name: name for name in MODULE_ATTRIBUTES}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULE_ATTRIBUTES:
                    aliases[alias.asname or alias.name] = alias.name
    return aliases


class _Finder(ast.NodeVisitor):
    def __init__(self, file, aliases, imported):
        self.file = file
        self.aliases = aliases
        self.imported = imported
        self.flags = []
        self.called = set()  # ids of Name nodes that are the function of a call

    def _flag(self, node, what):
        self.flags.append(Flag(self.file, getattr(node, "lineno", 0), what))

    def _changes_import(self, node, target, how):
        """Flags ``target`` when it is an attribute of an imported name."""
        root, path = _dotted(target)
        if root in self.imported and path and not self.imported[root].startswith(OWN_PACKAGE):
            full = f"{self.imported[root]}.{path}"
            if not full.startswith(SETTABLE):
                self._flag(node, f"{how} {full} (a change to a library the grader uses too)")

    def visit_Assign(self, node):
        for target in node.targets:
            for element in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                self._changes_import(node, element, "an assignment to")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._changes_import(node, node.target, "an assignment to")
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._changes_import(node, node.target, "an assignment to")
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self._changes_import(node, target, "deleting")
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name):
            self.called.add(id(func))
            name = func.id
            if name in ("setattr", "delattr") and node.args:
                root, _ = _dotted(node.args[0])
                if root in self.imported and not self.imported[root].startswith(OWN_PACKAGE):
                    self._flag(node, f"{name}() on {self.imported[root]} (a change to a library the grader uses too)")
            if name in REFLECTION_CALLS:
                target_is_self = bool(node.args) and _is_self(node.args[0])
                literal_name = len(node.args) >= 2 and _is_literal_name(node.args[1])
                if len(node.args) < 2 or not (literal_name or target_is_self):
                    self._flag(node, f"{name}() with a computed attribute name")
            elif name == "vars" and not (len(node.args) == 1 and _is_self(node.args[0])):
                self._flag(node, "vars() of something other than self")
            elif name in FORBIDDEN_CALLS:
                self._flag(node, FORBIDDEN_CALLS[name])
        self.generic_visit(node)

    def visit_Name(self, node):
        if id(node) not in self.called and node.id in REFLECTION_CALLS | {"vars"} | set(FORBIDDEN_CALLS):
            self._flag(node, f"{node.id} passed around as a value")
        elif node.id in ("__builtins__", "__loader__", "__spec__"):
            self._flag(node, node.id)
        self.generic_visit(node)

    def visit_Attribute(self, node):
        attr, root = node.attr, node.value
        module = self.aliases.get(root.id) if isinstance(root, ast.Name) else None
        if module and attr in MODULE_ATTRIBUTES[module]:
            self._flag(node, MODULE_ATTRIBUTES[module][attr])
        elif attr == "__dict__" and not _is_self(root):
            self._flag(node, "__dict__ of something other than self")
        elif attr in FORBIDDEN_ATTRIBUTES:
            self._flag(node, FORBIDDEN_ATTRIBUTES[attr])
        self.generic_visit(node)

    def _module(self, node, name):
        parts = name.split(".")
        if parts[0] in FORBIDDEN_MODULES:
            self._flag(node, f"import of {FORBIDDEN_MODULES[parts[0]]}")
        elif any(part in FORBIDDEN_ATTRIBUTES for part in parts) or (
            len(parts) > 1 and parts[1] in MODULE_ATTRIBUTES.get(parts[0], {})
        ):
            self._flag(node, f"import of {name}")

    def visit_Import(self, node):
        for alias in node.names:
            self._module(node, alias.name)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._module(node, module)
        for alias in node.names:
            forbidden = alias.name in FORBIDDEN_ATTRIBUTES or alias.name in FORBIDDEN_CALLS
            if forbidden or alias.name in MODULE_ATTRIBUTES.get(module, {}):
                self._flag(node, f"import of {module}.{alias.name}")

    def visit_Constant(self, node):
        if isinstance(node.value, str) and any(path in node.value for path in FORBIDDEN_PATHS):
            self._flag(node, f"the path {node.value[:40]!r}")


def scan_file(path: Path, relative: str) -> list[Flag]:
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return [Flag(relative, 0, f"a source file larger than {MAX_SOURCE_BYTES >> 20} MiB")]
        tree = ast.parse(path.read_bytes(), filename=relative)
    except (OSError, SyntaxError, ValueError):
        return []  # a file that does not parse fails its tests through the import error instead
    finder = _Finder(relative, _module_aliases(tree), _imported_names(tree))
    finder.visit(tree)
    return finder.flags


def _flagged_lines(path: Path, relative: str):
    lines = path.read_text(errors="replace").splitlines()
    return {lines[f.line - 1].strip() for f in scan_file(path, relative) if 0 < f.line <= len(lines)}


def scan_submission(submission: Path, provided: Path | None = None) -> list[Flag]:
    """
    Flags in every .py file of the submission's hw/ package. Lines that the
    homework's own copy of a file (``provided``: the release's hw/) already
    has are the course's code and are not flagged, wherever they moved.
    """
    package = submission / "hw"
    flags = []
    for path in sorted(package.rglob("*.py")) if package.is_dir() else []:
        if path.is_symlink() or not path.is_file():
            continue
        relative = path.relative_to(submission).as_posix()
        found = scan_file(path, relative)
        original = provided / path.relative_to(package) if provided else None
        if found and original is not None and original.is_file():
            course_lines = _flagged_lines(original, relative)
            lines = path.read_text(errors="replace").splitlines()
            found = [f for f in found if not (0 < f.line <= len(lines) and lines[f.line - 1].strip() in course_lines)]
        flags += found
    return flags
