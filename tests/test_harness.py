"""
The sandboxed worker against hostile and broken submissions: each fails with a
readable reason, and nothing it does reaches the grader or other students.
"""
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from course import REPO_ROOT
from course.grading import isolation
from course.grading import sandbox
from course.grading.sandbox import Budget, ProbeError, ProtocolViolation, Worker

AUTOGRADER = REPO_ROOT / "autograder"
PROBES = [AUTOGRADER / "probes.py", *sorted(AUTOGRADER.glob("probes_part*.py"))]  # as the hidden suite sends them
SOLUTION = (REPO_ROOT / "hw" / "layers.py").read_text()
RELU = {"cls": "ReLU"}


def make_submission(root: Path, layers: str | None = SOLUTION, answers: str = "") -> Path:
    (root / "hw").mkdir(parents=True)
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

    def start(layers=SOLUTION, answers="", timeout=5.0, level=None, **budget):
        budget = Budget(probe_seconds=timeout, **budget)
        submission = make_submission(tmp_path / f"submission{len(workers)}", layers, answers)
        # No import guard: the sandbox must hold whatever code runs, also code the policy would never let through.
        w = Worker(submission, PROBES, modules=("hw.layers", "hw.answers"), budget=budget, level=level, allowed_imports=None)
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.close()


def levels():
    """Every isolation level this machine can run."""
    found = [isolation.PROCESS]
    if isolation.running_as_root():
        found.append(isolation.UID)
    if not isolation.bubblewrap_problem():
        found.append(isolation.BUBBLEWRAP)
    return found


@pytest.mark.parametrize("level", levels())
def test_solution_works(worker_for, level):
    result, x = relu_pass(worker_for(level=level))
    assert torch.equal(result["outs"][0], torch.relu(x))


def test_missing_module(worker_for):
    with pytest.raises(ProbeError, match=r"hw/layers.py is missing from the submission"):
        relu_pass(worker_for(layers=None))


def test_modules_outside_the_policy_do_not_import(tmp_path):
    """An import statement of a student module names only the policy's modules: captum's maps cannot be the student's."""
    submission = make_submission(tmp_path / "submission", SOLUTION + "\nimport captum.attr\n", "")
    with Worker(submission, PROBES, modules=("hw.layers",)) as worker:
        with pytest.raises(ProbeError, match=r"hw.layers does not import: ImportError: captum.attr is not available to the homework's code"):
            relu_pass(worker)


def test_missing_hw_package_is_not_served_by_the_instructors_copy(tmp_path):
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


def test_tensor_subclass_is_refused(worker_for):
    """A subclass's own dispatch would run after the probe's rules let an operator through: the rules refuse it."""
    sneaky = SOLUTION + textwrap.dedent(
        """
        class Always(torch.Tensor):
            def __eq__(self, other):
                return True

        _forward = LeakyReLU.forward
        LeakyReLU.forward = lambda self, x, **kw: _forward(self, x).as_subclass(Always)
        """
    )
    with pytest.raises(ProbeError, match=r"computed with a tensor subclass \(Always\)"):
        relu_pass(worker_for(layers=sneaky))


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


@pytest.mark.parametrize("level", [lv for lv in levels() if lv != isolation.PROCESS])
def test_grader_files_are_out_of_reach(worker_for, level):
    target = PROBES[0]
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
        relu_pass(worker_for(layers=code, level=level))
    assert target.read_bytes() == before


# Code run from the submission's ReLU.forward at every level: what it tries, and the error that must stop it.
WORKER_RULES = {
    # The modules arrive as text and run from memory: a module's source is not there to be read as data.
    "own source read as data": ("open(__file__).read()", r"FileNotFoundError"),
    # Nothing unpickles with code in the worker: a pickle names the functions it calls through find_class.
    "unpickling": ("import pickle; pickle.loads(pickle.dumps(print))", r"unpickling objects from a file is not available"),
    # The submission's folder is no import location: a file its code writes is no module a library could import.
    "a module written at run time": (
        "import importlib, os; folder = os.path.dirname(os.path.dirname(__file__)); "
        "open(os.path.join(folder, 'written_now.py'), 'w').write('X = 1'); importlib.import_module('written_now')",
        r"ModuleNotFoundError: No module named 'written_now'"),
}  # fmt: skip


@pytest.mark.parametrize("level", levels())
@pytest.mark.parametrize("rule", sorted(WORKER_RULES))
def test_the_worker_refuses_what_no_code_may_do(worker_for, level, rule):
    statement, refusal = WORKER_RULES[rule]
    code = SOLUTION + textwrap.dedent(
        f"""
        def _try(self, x, **kw):
            {statement}
            return x
        ReLU.forward = _try
        """
    )
    with pytest.raises(ProbeError, match=refusal):
        relu_pass(worker_for(layers=code, level=level))


def test_a_data_loader_with_worker_processes_loads_in_the_worker(worker_for):
    """num_workers=2 is a student's choice of speed: the batches come, the same, from the worker's own process."""
    answers = textwrap.dedent(
        """
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        def part1_q1():
            data = TensorDataset(torch.arange(10.0))
            fast = [b[0] for b in DataLoader(data, batch_size=4, num_workers=2, persistent_workers=True)]
            plain = [b[0] for b in DataLoader(data, batch_size=4)]
            return f"{len(fast)} batches, the same: {all(torch.equal(a, b) for a, b in zip(fast, plain))}"
        """
    )
    assert worker_for(answers=answers).call("written_answers", names=["part1_q1"]) == {"part1_q1": "3 batches, the same: True"}


def test_torch_convolution_refused_at_run_time(worker_for):
    """Reaching F.conv2d in a way the static scan cannot see (getattr) still fails, with the reason."""
    hidden_call = 'getattr(torch.nn.functional, "con" + "v2d")(x, self.w, self.b, self.stride, self.padding)'
    layers = solution_with(
        "out = out.view(-1, n, hq, wq)[:, :, :h_out, :w_out].permute(1, 0, 2, 3).contiguous()", f"out = {hidden_call}"
    )
    spec = {"cls": "Conv2d", "args": [2, 3, 3], "kwargs": {"padding": 1}}
    with pytest.raises(ProbeError, match=r"the layer ran PyTorch's aten::convolution, which this part does not allow"):
        worker_for(layers).call("layer_pass", spec=spec, x=torch.randn(2, 2, 5, 5), douts=[])


@pytest.mark.parametrize("body, refused", [
    ("torch.nn.functional.max_pool1d(x.unsqueeze(1), 1).squeeze(1)", r"max_pool\w*"),
    ("torch.nn.functional.layer_norm(x, x.shape[1:])", "native_layer_norm"),
    ("torch.nn.functional.unfold(x.view(4, 3, 1, 1), 1).view(x.shape)", "im2col"),
    ("torch.ops.aten.relu(x)", "relu"),
], ids=["1-D pooling", "layer_norm", "im2col", "aten.relu"])
def test_only_elementary_operators_run_in_a_layer(worker_for, body, refused):
    """The runtime allowlist: PyTorch's other kernels are refused in a from-scratch layer, however they are named."""
    layers = solution_with("        out = torch.where(x > 0, x, self.alpha * x)", f"        out = {body}")
    with pytest.raises(ProbeError, match=rf"the layer ran PyTorch's aten::{refused}, which this part does not allow"):
        relu_pass(worker_for(layers))


def test_an_autograd_graph_replayed_in_backward_is_refused(worker_for):
    """Gradients switched on in forward (to replay the graph in backward) fail the forward pass already."""
    layers = solution_with("        out = torch.where(x > 0, x, self.alpha * x)",
                           "        with torch.enable_grad():\n            out = torch.where(x > 0, x, self.alpha * x)")  # fmt: skip
    with pytest.raises(ProbeError, match=r"the layer used automatic differentiation: gradients must be computed by hand"):
        relu_pass(worker_for(layers))


@pytest.mark.skipif(bool(isolation.bubblewrap_problem()), reason="needs bubblewrap")
def test_the_sandbox_holds_the_submission_and_nothing_of_the_grader(worker_for):
    """No repository, no probes file, no /proc: only the interpreter, the worker script and the submission's copy."""
    code = SOLUTION + textwrap.dedent(
        f"""
        import os, sys
        def _look(self, x, **kw):
            seen = [os.path.exists({str(REPO_ROOT / "autograder")!r}), os.path.exists("/pr" + "oc/self"),
                    sorted(os.listdir("/srv/grader")), os.path.dirname(os.path.dirname(__file__)), os.getuid() == 0]
            raise RuntimeError(repr(seen))
        ReLU.forward = _look
        """
    )
    with pytest.raises(ProbeError) as caught:
        relu_pass(worker_for(layers=code, level=isolation.BUBBLEWRAP))
    assert "[False, False, ['worker.py'], '/tmp/student/submission', False]" in str(caught.value)


FORGE = """
import io, struct

def _forge(self, x, **kw):
    buffer = io.BytesIO()
    torch.save({"id": 0, "ok": True, "value": {"outs": [x], "dxs": [], "grads": []}}, buffer)
    for fd in range(3, 64):
        try:
            with open(fd, "wb", closefd=False) as channel:
                channel.write(struct.pack(">I", len(buffer.getvalue())) + buffer.getvalue())
        except OSError:
            pass
    return x

ReLU.forward = _forge
"""


@pytest.mark.parametrize("level", levels())
def test_a_forged_reply_ends_grading_and_is_flagged(worker_for, level):
    worker = worker_for(layers=SOLUTION + FORGE, level=level)
    with pytest.raises(ProtocolViolation, match=r"protocol violation: the grader received a message that is not the answer"):
        relu_pass(worker)
    assert [kind for kind, _ in worker.flags] == ["protocol"]
    x = torch.randn(3, 2)
    with pytest.raises(ProbeError, match=r"protocol violation"):
        worker.call("layer_pass", spec={"cls": "Sigmoid"}, x=x, douts=[x])
    assert worker.starts == 1, "a worker that forged a message is not started again"


def test_an_impossible_frame_size_is_a_protocol_violation(worker_for):
    code = SOLUTION + "\nfor _fd in range(3, 64):\n    try:\n        open(_fd, 'wb', closefd=False).write(b'\\xff' * 4)\n    except OSError:\n        pass\n"
    with pytest.raises(ProtocolViolation, match=r"a message of 4294967295 bytes"):
        relu_pass(worker_for(layers=code))


SLOW_RELU = """
import time
_relu_forward = ReLU.forward
ReLU.forward = lambda self, x, **kw: (time.sleep(1.5), _relu_forward(self, x, **kw))[1]
"""


def test_time_budget_covers_the_whole_submission(worker_for):
    worker = worker_for(layers=SOLUTION + SLOW_RELU, seconds=6.0)
    with pytest.raises(ProbeError, match=r"time budget exceeded: your code ran for more than 6 s in all"):
        for _ in range(10):
            relu_pass(worker)
    assert worker.seconds_used <= 6.5
    started = time.monotonic()
    x = torch.randn(3, 2)
    with pytest.raises(ProbeError, match=r"time budget exceeded"):
        worker.call("layer_pass", spec={"cls": "Sigmoid"}, x=x, douts=[x])
    assert time.monotonic() - started < 0.5, "a submission out of time costs no more time"


def test_a_probe_with_its_own_time_is_not_paid_from_the_budget(worker_for, monkeypatch):
    worker = worker_for(layers=SOLUTION + SLOW_RELU.replace("time.sleep(1.5)", "time.sleep(4)"), timeout=2.0, seconds=60.0)
    x = torch.randn(3, 2)
    worker.call("layer_pass", spec={"cls": "Sigmoid"}, x=x, douts=[x])  # starts the worker
    used = worker.seconds_used
    monkeypatch.setitem(sandbox.OWN_TIME_SECONDS, "layer_pass", 10.0)
    relu_pass(worker)  # 4 s: past the probe timeout, within the probe's own time
    assert worker.seconds_used == used, "the probe's own time was taken from the submission's budget"
    monkeypatch.delitem(sandbox.OWN_TIME_SECONDS, "layer_pass")
    with pytest.raises(ProbeError, match=r"timed out after 2 s"):
        relu_pass(worker)
    assert worker.seconds_used > used


BURNING_RELU = """
import time
def _burn(self, x, **kw):
    end = time.process_time() + 1.5  # 1.5 s of CPU, however long the machine makes that take
    while time.process_time() < end:
        pass
    self.grad_cache["x"] = x
    return torch.where(x > 0, x, torch.zeros_like(x))
ReLU.forward = _burn
"""


def test_the_machines_load_does_not_count(worker_for):
    """
    A probe that needs 1.5 s of CPU passes its 3 s limit while two busy
    processes share its CPU (about 4.5 s of wall time): the time it waited for
    the CPU is the machine's, not the submission's.
    """
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(previous)})  # the worker and the burners inherit it: one CPU for the three
    # Each in a session of its own, as the worker is: Linux's autogroups share a CPU between sessions, not processes.
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True) for _ in range(2)]
    try:
        worker = worker_for(layers=SOLUTION + BURNING_RELU, timeout=3.0)
        worker.call("layer_pass", spec={"cls": "Sigmoid"}, x=torch.zeros(1, 1), douts=[])  # starts the worker
        before, started = worker.seconds_used, time.monotonic()
        result, x = relu_pass(worker)
        wall = time.monotonic() - started
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
        os.sched_setaffinity(0, previous)
    assert torch.equal(result["outs"][0], torch.relu(x))
    assert wall > 3.0, f"the machine was not busy enough to test anything ({wall:.1f} s)"
    assert worker.seconds_used - before < 3.0 < wall, "the time waited for the CPU was taken from the budget"


@pytest.mark.parametrize("change", ["holder = [torch.Tensor]\nholder[0].is_nested = property(lambda self: False)",
                                    "import torch.nn.functional as F\nF.conv2d = F.conv1d"],
                         ids=["class-gains-an-entry", "function-replaced"])  # fmt: skip
def test_code_that_changes_torch_stops_every_probe(worker_for, change):
    """The runtime's second line: torch's namespaces as they were before the submission ran, or no probe runs."""
    worker = worker_for(layers=SOLUTION + "\n" + change + "\n")
    with pytest.raises(ProbeError, match=r"your code changed torch\.(Tensor\.is_nested|nn\.functional\.conv2d)"):
        relu_pass(worker)


def test_a_clock_tells_the_machines_slowness_from_the_submissions(monkeypatch):
    now, waited = [100.0], [0.0]
    monkeypatch.setattr(sandbox.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(sandbox, "worker_task", lambda pid: 1)
    monkeypatch.setattr(sandbox, "runqueue_wait", lambda pid: waited[0])
    busy = sandbox.Clock(pid=1, limit=2.0)
    now[0], waited[0] = 108.0, 7.0  # 8 s of wall time, 7 of them waiting for a CPU: 1 s used, the cap reached
    assert busy.used() == 1.0 and busy.remaining() <= 0 and busy.machine_was_busy()
    waited[0] = 0.0
    slow = sandbox.Clock(pid=1, limit=2.0)
    now[0] = 110.5  # 2.5 s running or sleeping: the submission's own time
    assert slow.remaining() < 0 and not slow.machine_was_busy()


DISK_HOG = """
import tempfile
def _write(self, x, **kw):
    with open(tempfile.gettempdir() + "/big.bin", "wb") as f:
        for _ in range(64):
            f.write(b"\\0" * (1 << 20))
    return x
ReLU.forward = _write
"""


@pytest.mark.parametrize("level", levels())
def test_disk_budget(worker_for, level):
    with pytest.raises(ProbeError, match=r"your code wrote more than its disk budget of 32 MiB \(hw/layers.py:\d+"):
        relu_pass(worker_for(layers=SOLUTION + DISK_HOG, level=level, disk_bytes=32 << 20))


MANY_FILES_HOG = """
import tempfile, time
def _write(self, x, **kw):
    for i in range(48):
        with open(f"{tempfile.gettempdir()}/part{i}.bin", "wb") as f:
            f.write(b"\\1" * (1 << 20))
    time.sleep(30)
    return x
ReLU.forward = _write
"""


@pytest.mark.parametrize("level", [level for level in levels() if level != isolation.BUBBLEWRAP])
def test_disk_budget_counts_every_file(worker_for, level):
    """48 files of 1 MiB, each within the per-file limit: together over the budget (bubblewrap's tmpfs is full instead)."""
    worker = worker_for(layers=SOLUTION + MANY_FILES_HOG, level=level, disk_bytes=32 << 20, timeout=40)
    with pytest.raises(ProbeError, match=r"stopped: it wrote more than its disk budget of 32 MiB"):
        relu_pass(worker)


MEMORY_IN_CHILDREN = """
import subprocess, sys, time
def _spawn(self, x, **kw):
    children = [subprocess.Popen([sys.executable, "-c", "import time\\nhog = b'x' * (1 << 30)\\ntime.sleep(60)"])
                for _ in range(4)]
    time.sleep(30)
    return x
ReLU.forward = _spawn
"""


def test_memory_budget_counts_every_process(worker_for):
    """Four children of 1 GiB each, every one within the per-process limit: together over the budget."""
    worker = worker_for(layers=SOLUTION + MEMORY_IN_CHILDREN, memory_bytes=3 << 30, timeout=40)
    with pytest.raises(ProbeError, match=r"stopped: it used more than its memory budget of 3 GiB \(all its processes together\)"):
        relu_pass(worker)


# -- a method's self (course.grading.worker.OwnSelf) ---------------------------------------------

GUARDED = '''
import dataclasses
import enum
import warnings
from typing import NamedTuple


class Toolbox:
    """A helper whose method reads self's attributes."""

    def contents(self):
        return sorted(vars(self))

    @staticmethod
    def double(x):
        return 2 * x

    @classmethod
    def made(cls):
        return cls()


class Point(NamedTuple):
    x: int

    def twice(self):
        return self.x * 2


@dataclasses.dataclass
class Box:
    size: int

    def area(self):
        return self.size * self.size


class Colour(enum.Enum):
    RED = 1

    def describe(self):
        return self.name.lower()


def through_an_alias():
    lens = Toolbox
    return lens.contents(warnings.catch_warnings())
'''


def guarded_module(tmp_path):
    """The module above, loaded as the worker loads a student module (hw.guarded)."""
    import importlib.util

    from course.grading.worker import GuardedSource, own_self_guard

    path = tmp_path / "guarded.py"
    path.write_text(GUARDED)
    loader = GuardedSource("hw_guarded_test", str(path), GUARDED.encode())
    loader.guard = own_self_guard(["hw_guarded_test"])
    spec = importlib.util.spec_from_file_location("hw_guarded_test", str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["hw_guarded_test"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["hw_guarded_test"]
    return module


def test_methods_run_on_their_own_objects(tmp_path):
    module = guarded_module(tmp_path)
    assert module.Toolbox().contents() == []
    assert module.Toolbox.double(3) == 6 and isinstance(module.Toolbox.made(), module.Toolbox)
    assert module.Point(2).twice() == 4
    assert module.Box(3).area() == 9
    assert module.Colour.RED.describe() == "red"


def test_a_method_called_on_a_library_object_is_refused(tmp_path):
    module = guarded_module(tmp_path)
    with pytest.raises(TypeError, match="Toolbox.contents was called on a catch_warnings"):
        module.through_an_alias()


# -- a network that starts from the same values (autograder/probes_part4.py, check_random_start) -----------------


@pytest.fixture(scope="module")
def same_start():
    import sys

    sys.path.insert(0, str(AUTOGRADER))
    try:
        import probes_part4
    finally:
        sys.path.remove(str(AUTOGRADER))
    return probes_part4.same_start


def shuffled(weight, generator, inner=False):
    """A weight with its rows (output channels) shuffled, and with inner=True its input channels too."""
    weight = weight[torch.randperm(weight.shape[0], generator=generator)]
    return weight[:, torch.randperm(weight.shape[1], generator=generator)] if inner else weight


@pytest.mark.parametrize("shape", [(16, 3, 3, 3), (64, 3, 5, 5), (8, 8, 3, 3), (100, 256)], ids=str)
def test_two_random_builds_do_not_start_the_same(same_start, shape):
    for seed in range(5):
        a, b = (torch.randn(shape, generator=torch.Generator().manual_seed(2 * seed + i)) for i in (0, 1))
        assert not same_start(a, b), (shape, seed)


@pytest.mark.parametrize("shape", [(16, 3, 3, 3), (8, 3, 5, 5), (8, 8, 3, 3), (100, 256)], ids=str)
def test_weights_written_in_the_code_start_the_same_however_they_are_shuffled(same_start, shape):
    trained = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)
    assert same_start(trained, trained.clone())
    assert same_start(trained, shuffled(trained, generator)), "its filters in other slots"
    assert same_start(trained, shuffled(trained, generator, inner=True)), "its input channels shuffled too"
    noisy = shuffled(trained, generator) + 0.1 * trained.std() * torch.randn(shape, generator=generator)
    if trained[0].numel() >= 27:
        assert same_start(trained, noisy), "its filters shuffled and changed a little"
