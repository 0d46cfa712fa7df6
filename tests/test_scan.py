"""The static scans that refuse autograd, torch.optim and PyTorch's own layers where the homework builds them from scratch."""
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


def test_torch_layers_refused_in_the_from_scratch_layers(tmp_path):
    source = """
    import torch
    import torch.nn.functional as F

    class Layer:
        pass

    class Conv2d(Layer):
        def forward(self, x):
            return F.conv2d(x, self.w, self.b, self.stride, self.padding)

    class MaxPool2d(Layer):
        def forward(self, x):
            return torch.ops.aten.max_pool2d_with_indices(x, 2)[0]

    class AvgPool2d(MaxPool2d):
        pass

    class BatchNorm2d(Layer):
        def forward(self, x):
            return x

    def small_cnn():
        return [Conv2d(3, 8, 3), MaxPool2d(2), AvgPool2d(2)]
    """
    scan = scan_source(tmp_path, source, scan_module.TORCH_LAYERS)
    with pytest.raises(AssertionError, match=r"hw/layers.py:\d+ uses PyTorch's conv2d in Conv2d: this part's layers"):
        check_by_hand(scan, "Conv2d")
    with pytest.raises(AssertionError, match="max_pool2d_with_indices in MaxPool2d"):
        check_by_hand(scan, "AvgPool2d", "MaxPool2d")  # a subclass answers for its base class
    # The submission's own classes share torch's names: using them is not a finding.
    check_by_hand(scan, "BatchNorm2d")


def test_torch_layer_imports_concern_every_class(tmp_path):
    scan = scan_source(tmp_path, "from torch.nn import BatchNorm2d as BN\n\nclass Flatten:\n    pass\n", scan_module.TORCH_LAYERS)
    with pytest.raises(AssertionError, match="import of torch.nn.BatchNorm2d outside any class"):
        check_by_hand(scan, "Flatten")


def test_own_modules_refuse_torch_linear_and_conv(tmp_path):
    source = """
    from torch import nn

    class MyLinear(nn.Module):
        def forward(self, x):
            return nn.functional.linear(x, self.weight, self.bias)

    class MyConv2d(nn.Module):
        def forward(self, x):
            return x

    class LeNet(nn.Module):
        def __init__(self):
            self.conv = nn.Conv2d(3, 8, 5)

    def conv_bn(c_in, c_out):  # a helper for Part 4's architectures
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.BatchNorm2d(c_out))
    """
    scan = scan_source(tmp_path, source, scan_module.OWN_MODULES)
    with pytest.raises(AssertionError, match="uses PyTorch's linear in MyLinear"):
        check_by_hand(scan, "MyLinear", module_level=False)
    check_by_hand(scan, "MyConv2d", module_level=False)  # LeNet and top-level helpers may use PyTorch's layers
    with pytest.raises(AssertionError, match="outside any class"):
        check_by_hand(scan, "MyConv2d")


def test_solution_passes_the_layer_scans():
    for root in (REPO_ROOT / "hw", REPO_ROOT / "release" / "hw2" / "hw"):
        assert scan_module.scan_source(root / "layers.py", scan_module.TORCH_LAYERS).findings == {}
        cnn = scan_module.scan_source(root / "cnn.py", scan_module.OWN_MODULES)
        assert not {None, "MyLinear", "MyConv2d"} & set(cnn.findings), cnn.findings
