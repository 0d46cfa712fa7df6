"""
Static scan of a submission's source for APIs a from-scratch exercise forbids.

Runs in the harness on the submission's text (it never imports it). The
worker also runs the backward passes of Part 1 with autograd switched off, so
code that reaches autograd in a way this scan does not spell out still gets
no gradients from it; the scan is what gives the student a clear reason.
"""
import ast
from dataclasses import dataclass, field
from pathlib import Path

MAX_SOURCE_BYTES = 1 << 20

# Attribute or name -> what it is, for the message.
AUTOGRAD_NAMES = {
    "autograd": "torch.autograd",
    "enable_grad": "torch.enable_grad",
    "set_grad_enabled": "torch.set_grad_enabled",
    "_set_grad_enabled": "torch._C._set_grad_enabled",
    "grad_fn": "the autograd graph (grad_fn)",
    "requires_grad_": "requires_grad_()",
    "functorch": "functorch",
    "vjp": "vjp",
    "jvp": "jvp",
    "jacrev": "jacrev",
    "jacfwd": "jacfwd",
}


@dataclass
class Finding:
    line: int
    what: str


@dataclass
class Scan:
    """Forbidden uses by class; key None holds module-level code and functions outside classes."""

    path: str
    findings: dict = field(default_factory=dict)
    unreadable: str | None = None

    def problems_for(self, classes, base_classes=("Layer",)):
        """Findings that concern any of ``classes``: their own code, their base class, or module-level code."""
        relevant = [None, *base_classes, *classes]
        return [(cls, f) for cls in relevant for f in self.findings.get(cls, [])]


class _AutogradFinder(ast.NodeVisitor):
    def __init__(self):
        self.findings = {}
        self.classes = []

    def _add(self, node, what):
        owner = self.classes[0] if self.classes else None
        self.findings.setdefault(owner, []).append(Finding(node.lineno, what))

    def visit_ClassDef(self, node):
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def visit_Attribute(self, node):
        if node.attr in AUTOGRAD_NAMES:
            self._add(node, AUTOGRAD_NAMES[node.attr])
        elif node.attr == "func" and isinstance(node.value, ast.Name) and node.value.id == "torch":
            self._add(node, "torch.func")
        elif node.attr == "requires_grad" and isinstance(node.ctx, ast.Store):
            self._add(node, "setting requires_grad")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in AUTOGRAD_NAMES:
            self._add(node, AUTOGRAD_NAMES[node.id])
        self.generic_visit(node)

    def visit_Call(self, node):
        for keyword in node.keywords:
            if keyword.arg == "requires_grad":
                self._add(node, "requires_grad=...")
        # A Layer's backward always takes dout; a tensor's backward() needs none.
        if isinstance(node.func, ast.Attribute) and node.func.attr == "backward" and not node.args and not node.keywords:
            self._add(node, "tensor.backward()")
        self.generic_visit(node)

    def _imports(self, node, names):
        for name in names:
            parts = set(name.split("."))
            hits = [AUTOGRAD_NAMES[p] for p in parts if p in AUTOGRAD_NAMES]
            if hits or name in ("torch.func", "functorch"):
                self._add(node, f"import of {name}")

    def visit_Import(self, node):
        self._imports(node, [alias.name for alias in node.names])

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._imports(node, [module] + [f"{module}.{alias.name}" for alias in node.names])


def scan_autograd(path: Path) -> Scan:
    """Where the file at ``path`` reaches for automatic differentiation, by class."""
    scan = Scan(path=path.name)
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            scan.unreadable = f"{path.name} is larger than {MAX_SOURCE_BYTES >> 20} MiB"
            return scan
        tree = ast.parse(path.read_bytes(), filename=path.name)
    except (OSError, SyntaxError, ValueError):
        return scan  # a missing or broken file fails every test through the import error instead
    finder = _AutogradFinder()
    finder.visit(tree)
    scan.findings = finder.findings
    return scan


def check_by_hand(scan: Scan, *classes: str):
    """Fails with the first forbidden use in code the given classes run."""
    if scan.unreadable:
        raise AssertionError(scan.unreadable)
    problems = scan.problems_for(classes)
    if problems:
        owner, finding = problems[0]
        where = f"in {owner}" if owner else "outside any class"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise AssertionError(
            f"hw/{scan.path}:{finding.line} uses {finding.what} {where}{more}: "
            "gradients in this part must be computed by hand, without automatic differentiation"
        )
