"""The scan that flags code reaching around the grader for staff review: what it flags, and that homework code is never flagged."""
import importlib.util
import textwrap

import pytest

from course import ASSIGNMENT, REPO_ROOT
from course.examples import build_example, load_examples
from course.grade import AUTOGRADER

# The hidden suite's modules are not a package: load tamper_scan.py by path, as pytest does there.
_spec = importlib.util.spec_from_file_location("autograder_tamper_scan", AUTOGRADER / "tamper_scan.py")
tamper_scan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tamper_scan)

PROVIDED = REPO_ROOT / "release" / ASSIGNMENT / "hw"

FLAGGED = {
    "computed getattr on torch": ('getattr(torch, "auto" + "grad")', "getattr() with a computed attribute name"),
    "computed getattr on an alias": ("t = torch\nop = getattr(t, name)", "getattr() with a computed attribute name"),
    "getattr passed as a value": ("import functools\nf = functools.reduce(getattr, names, torch)", "getattr passed around"),
    "torch._C": ("with torch._C.DisableTorchFunction():\n    pass", "torch._C"),
    "dispatch stack": ("from torch.utils import _python_dispatch", "import of torch.utils._python_dispatch"),
    "torch.ops": ("import torch as t\nt.ops.aten.convolution", "torch.ops"),
    "torch.library": ("torch.library.Library('aten', 'IMPL')", "torch.library"),
    "sys._getframe": ("import sys\nframe = sys._getframe(1)", "sys._getframe"),
    "traceback frames": ("try:\n    raise ValueError\nexcept ValueError as e:\n    f = e.__traceback__.tb_frame", "tb_frame"),
    "sys.modules": ("import sys\nprobes = sys.modules['x']", "sys.modules"),
    "gc": ("import gc\ngc.get_objects()", "import of the garbage collector"),
    "ctypes": ("import ctypes", "import of ctypes"),
    "inspect": ("from inspect import currentframe", "import of inspect"),
    "importlib": ("import importlib\nimportlib.import_module('torch.' + '_C')", "import of importlib"),
    "__import__": ("m = __import__('torch')", "__import__()"),
    "eval": ("eval('1 + 1')", "eval()"),
    "exec": ("exec('x = 1')", "exec()"),
    "globals": ("globals()['x'] = 1", "globals()"),
    "vars of a module": ("vars(torch)['nn']", "vars() of something other than self"),
    "__dict__ of a module": ("torch.nn.functional.__dict__['conv2d']", "__dict__ of something other than self"),
    "__globals__": ("f.__globals__['x'] = 1", "__globals__"),
    "__subclasses__": ("object.__subclasses__()", "__subclasses__"),
    "os.write": ("import os\nos.write(5, b'frame')", "os.write"),
    "os.fdopen": ("import os\nos.fdopen(5, 'wb')", "os.fdopen"),
    "from os import write": ("from os import write", "import of os.write"),
    "/proc": ("open('/proc/self/mem', 'rb')", "the path '/proc/self/mem'"),
    "attrgetter": ("from operator import attrgetter\nattrgetter('conv2d')(F)", "operator.attrgetter"),
    "threads": ("import threading", "import of threads (threading)"),
    "thread pool": ("from concurrent.futures import ThreadPoolExecutor", "import of threads or processes"),
    "processes": ("import subprocess", "import of processes (subprocess)"),
    "torch.jit.fork": ("torch.jit.fork(F.relu, x)", "torch.jit"),
    "patching torch": ("torch.equal = lambda *args: True", "an assignment to torch.equal"),
    "patching a torch class": ("torch.Tensor.__reduce_ex__ = None", "an assignment to torch.Tensor.__reduce_ex__"),
    "patching an alias": ("F.conv2d = None", "an assignment to torch.nn.functional.conv2d"),
    "patching os": ("import os\nos.write = print", "an assignment to os.write"),
    "setattr on torch": ("setattr(torch, 'allclose', None)", "setattr() on torch"),
    "__setattr__": ("torch.__setattr__('equal', None)", "__setattr__"),
}


def flags_for(tmp_path, source):
    package = tmp_path / "hw"
    package.mkdir(exist_ok=True)
    (package / "layers.py").write_text("import torch\nimport torch.nn.functional as F\n" + textwrap.dedent(source))
    return tamper_scan.scan_submission(tmp_path, PROVIDED)


@pytest.mark.parametrize("source, what", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(tmp_path, source, what):
    flags = flags_for(tmp_path, source)
    assert flags, f"{source!r} was not flagged"
    assert any(what in flag.what for flag in flags), [f.what for f in flags]
    assert all(flag.file == "hw/layers.py" and flag.line >= 3 for flag in flags)


ALLOWED = {
    "getattr with a literal": 'getattr(layer, "w", None)',
    "getattr on self": "value = getattr(self, name)",
    "setattr on self": "setattr(self, name, value.double())",
    "vars of self": "state = vars(self)",
    "a model's modules()": "for m in model.modules():\n    pass",
    "nn.Module's submodules": "from torch.nn.modules.utils import _pair",
    "os.path": "import os\nos.path.isfile('checkpoint.pt')",
    "sys.stdout": "import sys\nsys.stdout.flush()",
    "open a file": "open('results.txt', 'w')",
    "a torch setting": "torch.backends.cudnn.deterministic = True",
    "attributes of own objects": "self.w = torch.zeros(3)\nlayer.w = self.w",
    "another module of the homework": "from hw.layers import Layer\nLayer.default_std = 0.1",
}


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_allowed(tmp_path, source):
    assert flags_for(tmp_path, f"class Layer:\n    def method(self, name, value, model, layer):\n{textwrap.indent(source, '        ')}\n") == []


def test_homework_code_is_never_flagged(tmp_path):
    """The solution, the release and every bundled example that is not a cheat: correct or merely buggy code raises no flag."""
    assert tamper_scan.scan_submission(REPO_ROOT, PROVIDED) == []
    for example in load_examples():
        folder = build_example(example, tmp_path / example.name)
        assert bool(tamper_scan.scan_submission(folder, PROVIDED)) == example.flagged, example.name


def test_course_code_moved_or_edited_around_is_not_flagged(tmp_path):
    """A provided file the student edited keeps its own lines unflagged, wherever they moved."""
    (tmp_path / "hw").mkdir()
    plot = (PROVIDED / "plot.py").read_text()
    (tmp_path / "hw" / "plot.py").write_text("# my own note\n\n" + plot + "\nx = getattr(torch, name)\n")
    flags = tamper_scan.scan_submission(tmp_path, PROVIDED)
    assert [f.what for f in flags] == ["getattr() with a computed attribute name"]
    assert flags[0].line == plot.count("\n") + 4
