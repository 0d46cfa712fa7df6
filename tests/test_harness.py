"""
The sandboxed worker against hostile and broken submissions: each fails with a
readable reason, and nothing it does reaches the grader or other students.
"""
import os
import textwrap
from pathlib import Path

import pytest
import torch

from course import REPO_ROOT
from course.sandbox import Budget, ProbeError, Worker

PROBES = REPO_ROOT / "autograder" / "probes.py"
SOLUTION = (REPO_ROOT / "hw" / "layers.py").read_text()
RELU = {"cls": "ReLU"}


def make_submission(root: Path, layers: str | None = SOLUTION, answers: str = "") -> Path:
    os.chmod(root, 0o755)
    (root / "hw").mkdir()
    (root / "hw" / "__init__.py").write_text("")
    if layers is not None:
        (root / "hw" / "layers.py").write_text(layers)
    (root / "hw" / "answers.py").write_text(answers)
    return root


def solution_with(old: str, new: str) -> str:
    assert SOLUTION.count(old) == 1
    return SOLUTION.replace(old, new)


def relu_pass(worker, **kw):
    x = torch.randn(4, 3)
    return worker.call("layer_pass", spec=RELU, x=x, douts=[torch.ones_like(x)], **kw), x


@pytest.fixture
def worker_for(tmp_path):
    workers = []

    def start(layers=SOLUTION, answers="", timeout=5.0, **budget):
        budget = Budget(probe_seconds=timeout, **budget)
        w = Worker(make_submission(tmp_path, layers, answers), PROBES, modules=("hw.layers", "hw.answers"), budget=budget)
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.close()


def test_solution_works(worker_for):
    result, x = relu_pass(worker_for())
    assert torch.equal(result["outs"][0], torch.relu(x))


def test_missing_module(worker_for):
    with pytest.raises(ProbeError, match=r"hw/layers.py is missing from the submission"):
        relu_pass(worker_for(layers=None))


def test_missing_hw_package_is_not_served_by_the_instructors_copy(tmp_path):
    os.chmod(tmp_path, 0o755)
    with Worker(tmp_path, PROBES, modules=("hw.layers",)) as worker:
        with pytest.raises(ProbeError, match=r"hw/layers.py is missing|not found in the submission"):
            relu_pass(worker)


def test_missing_class(worker_for):
    worker = worker_for(layers=solution_with("class Dropout(Layer):", "class DropOut(Layer):"))
    x = torch.randn(4, 3)
    with pytest.raises(ProbeError, match=r"hw/layers.py has no class Dropout"):
        worker.call("layer_pass", spec={"cls": "Dropout", "args": [0.5]}, x=x, douts=[x])


def test_wrong_signature(worker_for):
    worker = worker_for(layers=solution_with("def forward(self, x, **kw):\n        \"\"\"\n        Inputs:\n        - x: input tensor of any shape, e.g. (N, D).\n\n        Returns:\n        - out: tensor of the same shape as x.\n        \"\"\"\n        # TODO: Compute the leaky", "def forward(self):\n        \"\"\"\n        \"\"\"\n        # TODO: Compute the leaky"))
    with pytest.raises(ProbeError, match=r"TypeError: .*forward\(\) takes 1 positional argument"):
        relu_pass(worker)


def test_exit_at_import_fails_every_probe_with_a_reason(worker_for):
    worker = worker_for(layers="import os\nos._exit(3)\n")
    for _ in range(2):
        with pytest.raises(ProbeError, match=r"exit code 3 while starting up and importing your code"):
            relu_pass(worker)
    assert worker.starts == 0, "a submission that dies at import must not be restarted for every probe"


def test_sys_exit_in_forward(worker_for):
    worker = worker_for(layers=solution_with("self.grad_cache[\"x\"] = x\n        out = torch.where", "raise SystemExit(0)\n        out = torch.where"))
    with pytest.raises(ProbeError, match=r"your code called exit\(0\) \(hw/layers.py:\d+, in LeakyReLU.forward\)"):
        relu_pass(worker)


def test_hang_times_out_and_the_worker_recovers(worker_for):
    worker = worker_for(
        layers=solution_with("def __init__(self):\n        # TODO: Initialise the parent", "def __init__(self):\n        while True: pass\n        # TODO: Initialise the parent"),
        timeout=2.0,
    )
    with pytest.raises(ProbeError, match=r"timed out after 2 s while running layer_pass"):
        relu_pass(worker)
    x = torch.randn(3, 2)
    result = worker.call("layer_pass", spec={"cls": "Sigmoid"}, x=x, douts=[torch.ones_like(x)])
    assert torch.allclose(result["outs"][0], torch.sigmoid(x))
    assert worker.starts == 2


def test_memory_exhaustion_is_contained(worker_for):
    worker = worker_for(
        layers=solution_with("self.grad_cache[\"x\"] = x\n        out = torch.where", "hog = [bytearray(1 << 30) for _ in range(64)]\n        out = torch.where"),
        memory_bytes=4 << 30,
    )
    with pytest.raises(ProbeError, match=r"MemoryError|out of memory"):
        relu_pass(worker)


def test_printed_garbage_does_not_reach_the_protocol(worker_for):
    noisy = "import os, sys\nprint('garbage' * 1000)\nos.write(1, b'\\x00\\xff' * 5000)\nsys.stdout.write('more')\n" + SOLUTION
    result, x = relu_pass(worker_for(layers=noisy))
    assert torch.equal(result["outs"][0], torch.relu(x))


def test_non_tensor_result(worker_for):
    worker = worker_for(layers=solution_with("        ### END SOLUTION\n        return out\n\n    def backward(self, dout):\n        \"\"\"\n        Inputs:\n        - dout: gradient with respect to the output, same shape as x.\n\n        Returns:\n        - dx: gradient with respect to x: dout where", "        ### END SOLUTION\n        return out.tolist()\n\n    def backward(self, dout):\n        \"\"\"\n        Inputs:\n        - dout: gradient with respect to the output, same shape as x.\n\n        Returns:\n        - dx: gradient with respect to x: dout where"))
    with pytest.raises(ProbeError, match=r"ReLU.forward returned list, expected a torch.Tensor"):
        relu_pass(worker)


def test_tensor_subclass_comes_back_plain(worker_for):
    sneaky = SOLUTION + textwrap.dedent(
        """
        class Always(torch.Tensor):
            def __eq__(self, other):
                return True

        _forward = LeakyReLU.forward
        LeakyReLU.forward = lambda self, x, **kw: _forward(self, x).as_subclass(Always)
        """
    )
    result, x = relu_pass(worker_for(layers=sneaky))
    assert type(result["outs"][0]) is torch.Tensor


def test_no_network(worker_for):
    code = SOLUTION + textwrap.dedent(
        """
        def _phone_home(self, x, **kw):
            import socket
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("1.1.1.1", 80))
            return x
        ReLU.forward = _phone_home
        """
    )
    with pytest.raises(ProbeError, match=r"OSError: \[Errno 101\] Network is unreachable"):
        relu_pass(worker_for(layers=code))


@pytest.mark.skipif(os.geteuid() != 0, reason="privileges are dropped only when grading as root")
def test_grader_files_are_out_of_reach(worker_for):
    target = PROBES
    before = target.read_bytes()
    code = SOLUTION + textwrap.dedent(
        f"""
        def _tamper(self, x, **kw):
            open({str(target)!r}, "a").write("# tampered")
            return x
        ReLU.forward = _tamper
        """
    )
    # In the bubblewrap sandbox the repository does not exist; in the uid fallback it may not be written.
    with pytest.raises(ProbeError, match=r"FileNotFoundError|PermissionError"):
        relu_pass(worker_for(layers=code))
    assert target.read_bytes() == before


def test_torch_convolution_refused_at_run_time(worker_for):
    """Reaching F.conv2d in a way the static scan cannot see (getattr) still fails, with the reason."""
    hidden_call = 'getattr(torch.nn.functional, "con" + "v2d")(x, self.w, self.b, self.stride, self.padding)'
    layers = solution_with(
        "out = out.view(-1, n, hq, wq)[:, :, :h_out, :w_out].permute(1, 0, 2, 3).contiguous()", f"out = {hidden_call}"
    )
    spec = {"cls": "Conv2d", "args": [2, 3, 3], "kwargs": {"padding": 1}}
    with pytest.raises(ProbeError, match=r"the layer called PyTorch's own conv2d\(\): it must be computed from scratch"):
        worker_for(layers).call("layer_pass", spec=spec, x=torch.randn(2, 2, 5, 5), douts=[])
