"""
Static scan of a submission's source for APIs a from-scratch exercise forbids.

Runs in the harness on the submission's text (it never imports it). A rule
set names the forbidden attributes, names and imports and the reason given
to the student. The worker also runs the backward passes of Part 1 with
autograd switched off, so code that reaches autograd in a way the scan does
not spell out still gets no gradients from it; the scan is what gives the
student a clear reason.
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


TORCH_OPTIMIZER_NAMES = {
    name: f"torch.optim.{name}"
    for name in ("SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "ASGD", "Rprop", "LBFGS")
}


TORCH_LAYER_NAMES = {
    **{name: f"PyTorch's {name}" for name in (
        "conv1d", "conv2d", "conv3d", "conv_transpose2d", "convolution", "_convolution", "conv2d_input",
        "conv2d_weight", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d",
        "adaptive_max_pool2d", "batch_norm", "native_batch_norm", "instance_norm",
    )},
    **{name: f"torch.nn.{name}" for name in (
        "Conv2d", "LazyConv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
        "BatchNorm2d", "LazyBatchNorm2d",
    )},
}  # fmt: skip

OWN_MODULE_NAMES = {
    **{name: f"PyTorch's {name}" for name in ("linear", "conv1d", "conv2d", "convolution", "_convolution")},
    **{name: f"torch.nn.{name}" for name in ("Linear", "LazyLinear", "Bilinear", "Conv2d", "LazyConv2d")},
}


# The libraries the Part 6 tests compare with, and torchvision's box operations.
ATTRIBUTION_LIBRARY_NAMES = {
    **{name: name for name in ("captum", "pytorch_grad_cam", "torchcam")},
    **{name: f"torchvision.ops.{name}" for name in ("box_iou", "nms", "batched_nms", "_box_inter_union", "box_area")},
}


@dataclass(frozen=True)
class Rules:
    names: dict  # attribute, name or imported name -> what it is, for the message
    reason: str
    autograd_idioms: bool = False  # also requires_grad=..., x.requires_grad = ..., tensor.backward()
    # False: only attributes (F.conv2d) and imports count, because the
    # submission's own classes share the names (class Conv2d, MaxPool2d(...)).
    bare_names: bool = True


AUTOGRAD = Rules(
    AUTOGRAD_NAMES,
    "gradients in this part must be computed by hand, without automatic differentiation",
    autograd_idioms=True,
)
TORCH_OPTIMIZERS = Rules(TORCH_OPTIMIZER_NAMES, "the update rule must be written by hand, not taken from torch.optim")
TORCH_LAYERS = Rules(
    TORCH_LAYER_NAMES,
    "this part's layers must compute convolution, pooling and normalization themselves",
    bare_names=False,
)
ATTRIBUTION_LIBRARIES = Rules(
    ATTRIBUTION_LIBRARY_NAMES,
    "the maps, box_iou and nms must be computed by your own code, not by the libraries the tests compare them with",
    bare_names=False,
)
OWN_MODULES = Rules(
    OWN_MODULE_NAMES,
    "MyLinear and MyConv2d must compute their output themselves, not with PyTorch's linear or convolution",
    bare_names=False,
)


@dataclass
class Finding:
    line: int
    what: str


@dataclass
class Scan:
    """Forbidden uses by class; key None holds module-level code and functions outside classes."""

    path: str
    reason: str
    findings: dict = field(default_factory=dict)
    unreadable: str | None = None

    def problems_for(self, classes, base_classes=("Layer",), module_level=True):
        """Findings that concern any of ``classes``: their own code, their base class, and (with module_level) module-level code."""
        relevant = [None] * module_level + [*base_classes, *classes]
        return [(cls, f) for cls in relevant for f in self.findings.get(cls, [])]


class _Finder(ast.NodeVisitor):
    def __init__(self, rules: Rules):
        self.rules = rules
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
        names, idioms = self.rules.names, self.rules.autograd_idioms
        if node.attr in names:
            self._add(node, names[node.attr])
        elif idioms and node.attr == "func" and isinstance(node.value, ast.Name) and node.value.id == "torch":
            self._add(node, "torch.func")
        elif idioms and node.attr == "requires_grad" and isinstance(node.ctx, ast.Store):
            self._add(node, "setting requires_grad")
        self.generic_visit(node)

    def visit_Name(self, node):
        if self.rules.bare_names and node.id in self.rules.names:
            self._add(node, self.rules.names[node.id])
        self.generic_visit(node)

    def visit_Call(self, node):
        if self.rules.autograd_idioms:
            for keyword in node.keywords:
                if keyword.arg == "requires_grad":
                    self._add(node, "requires_grad=...")
            # A Layer's backward always takes dout; a tensor's backward() needs none.
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "backward" and not node.args and not node.keywords:
                self._add(node, "tensor.backward()")
        self.generic_visit(node)

    def _imports(self, node, names):
        for name in names:
            forbidden = any(part in self.rules.names for part in name.split("."))
            if forbidden or (self.rules.autograd_idioms and name == "torch.func"):
                self._add(node, f"import of {name}")

    def visit_Import(self, node):
        self._imports(node, [alias.name for alias in node.names])

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._imports(node, [module] + [f"{module}.{alias.name}" for alias in node.names])


def scan_source(path: Path, rules: Rules) -> Scan:
    """Where the file at ``path`` uses what ``rules`` forbid, by class."""
    scan = Scan(path=path.name, reason=rules.reason)
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            scan.unreadable = f"{path.name} is larger than {MAX_SOURCE_BYTES >> 20} MiB"
            return scan
        tree = ast.parse(path.read_bytes(), filename=path.name)
    except (OSError, SyntaxError, ValueError):
        return scan  # a missing or broken file fails every test through the import error instead
    finder = _Finder(rules)
    finder.visit(tree)
    scan.findings = finder.findings
    return scan


def check_by_hand(scan: Scan, *classes: str, module_level: bool = True):
    """
    Fails with the first forbidden use in code the given classes run: their
    own, their base class's and, with module_level, the module's top level.
    """
    if scan.unreadable:
        raise AssertionError(scan.unreadable)
    problems = scan.problems_for(classes, module_level=module_level)
    if problems:
        owner, finding = problems[0]
        where = f"in {owner}" if owner else "outside any class"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise AssertionError(
            f"hw/{scan.path}:{finding.line} uses {finding.what} {where}{more}: {scan.reason}"
        )
