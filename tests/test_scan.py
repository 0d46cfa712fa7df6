"""The static scan that refuses automatic differentiation in Part 1's from-scratch layers."""
import importlib.util
import textwrap

import pytest

from course import REPO_ROOT
from course.grade import AUTOGRADER

# The hidden suite's modules are not a package: load scan.py by path, as pytest does there.
_spec = importlib.util.spec_from_file_location("autograder_scan", AUTOGRADER / "scan.py")
scan_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scan_module)
check_by_hand = scan_module.check_by_hand


def scan_autograd(path):
    return scan_module.scan_source(path, scan_module.AUTOGRAD)


def scan_source(tmp_path, source, rules=scan_module.AUTOGRAD):
    path = tmp_path / "layers.py"
    path.write_text(textwrap.dedent(source))
    return scan_module.scan_source(path, rules)


FORBIDDEN = {
    "autograd.grad": "def backward(self, dout):\n        return torch.autograd.grad(self.out, self.x, dout)[0]",
    "from-import": "def backward(self, dout):\n        from torch.autograd import grad\n        return grad(self.out, self.x, dout)[0]",
    "tensor.backward()": "def backward(self, dout):\n        (self.out * dout).sum().backward()\n        return self.x.grad",
    "enable_grad": "def forward(self, x):\n        with torch.enable_grad():\n            return x * 2",
    "requires_grad kwarg": "def forward(self, x):\n        return torch.tensor(x, requires_grad=True)",
    "requires_grad store": "def forward(self, x):\n        x.requires_grad = True\n        return x",
    "torch.func": "def backward(self, dout):\n        return torch.func.vjp(torch.tanh, self.x)[1](dout)[0]",
}


@pytest.mark.parametrize("body", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_forbidden_use_in_a_class_fails_its_tests(tmp_path, body):
    scan = scan_source(tmp_path, f"import torch\n\nclass TanH:\n    {body}\n\nclass ReLU:\n    pass\n")
    with pytest.raises(AssertionError, match=r"hw/layers.py:\d+ uses .* in TanH( \(and \d+ more\))?: gradients in this part must be computed by hand"):
        check_by_hand(scan, "TanH")
    check_by_hand(scan, "ReLU")  # the other classes keep their points


def test_module_level_use_concerns_every_class(tmp_path):
    scan = scan_source(tmp_path, "from torch import autograd\n\nclass ReLU:\n    pass\n")
    with pytest.raises(AssertionError, match="outside any class"):
        check_by_hand(scan, "ReLU")


def test_base_class_use_concerns_every_layer(tmp_path):
    scan = scan_source(tmp_path, "class Layer:\n    def __call__(self, x):\n        x.requires_grad_()\n\nclass ReLU(Layer):\n    pass\n")
    with pytest.raises(AssertionError, match="in Layer"):
        check_by_hand(scan, "ReLU")


def test_layer_backward_calls_are_allowed(tmp_path):
    source = """
    class Sequential:
        def backward(self, dout):
            for layer in reversed(self.layers):
                dout = layer.backward(dout)
            return dout
    """
    check_by_hand(scan_source(tmp_path, source), "Sequential")


def test_solution_and_release_pass_the_scan():
    for root in (REPO_ROOT / "hw", REPO_ROOT / "release" / "hw2" / "hw"):
        scan = scan_autograd(root / "layers.py")
        assert scan.findings == {}, scan.findings


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "layers.py"
    path.write_text("#" * (2 << 20))
    with pytest.raises(AssertionError, match="larger than 1 MiB"):
        check_by_hand(scan_autograd(path), "ReLU")


def test_torch_optimizers_refused_in_the_optimizers(tmp_path):
    source = """
    import torch
    from torch.optim import Adam as TorchAdam

    class Adam:
        def __init__(self, params):
            self.inner = TorchAdam(params)

    class VanillaSGD:
        def step(self):
            torch.optim.SGD
    """
    scan = scan_source(tmp_path, source, scan_module.TORCH_OPTIMIZERS)
    with pytest.raises(AssertionError, match="outside any class: the update rule must be written by hand"):
        check_by_hand(scan, "RMSProp")  # the module-level import concerns every class
    assert [f.what for f in scan.findings["VanillaSGD"]] == ["torch.optim.SGD"]


def test_solution_optimizers_pass_the_scan():
    scan = scan_module.scan_source(REPO_ROOT / "hw" / "optimizers.py", scan_module.TORCH_OPTIMIZERS)
    assert scan.findings == {}, scan.findings
