"""
The closed-world policy (hw/policy.py) that the grader and `python -m hw.check` share: what it flags, what
a from-scratch rule refuses, what homework code may do, which files are graded, and the students' check.
"""
import subprocess
import sys
import textwrap
import zipfile

import pytest

from course import ASSIGNMENT, REPO_ROOT
from course.authoring.examples import build_example, load_examples
from hw import check, policy

RELEASE = REPO_ROOT / "release" / ASSIGNMENT

# Code that reaches outside the homework: flagged for review, with these words in the message.
FLAGGED = {
    "computed getattr": ('getattr(torch, "auto" + "grad")', "computed attribute name"),
    "literal private getattr": ('getattr(torch, "_C")', "private attribute ._C"),
    "literal frame getattr": ('def g():\n    yield 1\nf = getattr(g(), "gi_frame")', "getattr() of .gi_frame"),
    "getattr passed around": ("import functools\nf = functools.reduce(getattr, ['nn'], torch)", "built-in getattr around"),
    "torch._C": ("with torch._C.DisableTorchFunction():\n    pass", "torch._C"),
    "dispatch-mode stack": ("from torch.utils import _python_dispatch", "private name of torch.utils"),
    "torch.ops": ("import torch as t\nop = t.ops.aten.convolution", "torch.ops"),
    "torch.library": ("torch.library.Library('aten', 'IMPL')", "torch.library"),
    "torch.jit": ("f = torch.jit.script(F.relu)", "torch.jit"),
    "torch.compile": ("f = torch.compile(F.relu)", "torch.compile"),
    "torch.overrides": ("from torch.overrides import TorchFunctionMode", "torch.overrides"),
    "torch.utils.hooks": ("import torch.utils.hooks", "torch.utils.hooks"),
    "an unlisted library": ("import scipy.signal", "scipy.signal"),
    "sys": ("import sys\nframe = sys._getframe(1)", "sys"),
    "frames of a traceback": ("try:\n    raise ValueError\nexcept ValueError as e:\n    f = e.__traceback__", "__traceback__"),
    "frames of a generator": ("def g():\n    yield 1\nf = g().gi_frame.f_back", "gi_frame"),
    "importlib": ("import importlib", "importlib"),
    "runpy": ("import runpy", "runpy"),
    "pickle": ("import pickle", "pickle"),
    "torch.load unpickling": ("torch.load('x.pt', weights_only=False)", "weights_only"),
    "numpy.load unpickling": ("import numpy as np\nnp.load('x.npy', allow_pickle=True)", "allow_pickle"),
    "__import__": ("m = __import__('os')", "__import__"),
    "eval": ("eval('1 + 1')", "eval()"),
    "exec": ("exec('x = 1')", "exec()"),
    "globals": ("g = globals()", "globals()"),
    "vars of a module's object": ("v = vars(F)", "vars()"),
    "__dict__": ("d = F.__dict__", "__dict__"),
    "__subclasses__ walk": ("s = ().__class__.__bases__[0].__subclasses__()", "special attribute"),
    "dunders on self": ("class T:\n    def f(self):\n        return self.__reduce_ex__(2)", "uses .__reduce_ex__, a special attribute"),
    "__dict__ of a class": ("class T:\n    @classmethod\n    def f(cls):\n        return cls.__dict__", "uses .__dict__, a special attribute"),
    "super with a foreign object": ("class T:\n    def f(self, o):\n        return super(type(o), o).__getattribute__('x')", "special attribute"),
    "a method called with a foreign self": ("class T:\n    def f(self):\n        return vars(self)\nv = T.f(torch)", "another object than self"),
    "a method taken as a value": ("class T:\n    def f(self):\n        return vars(self)\ng = T.f", "takes the method T.f"),
    "self rebound": ("class T:\n    def f(self, o):\n        self = o\n        return self._x", "private attribute ._x"),
    "self under an unknown decorator": ("sm = staticmethod\nclass T:\n    @sm\n    def f(self):\n        return self._x", "private attribute ._x"),
    "a class patched through a parameter": ("def install(cls, step):\n    cls.step = step", "an object this code did not make"),
    "a class patched at the top level": ("class T:\n    pass\nT.step = print", "an object this code did not make"),
    "positional unpickling": ("import numpy as np\nnp.load('x.npy', None, True)", "more than the file positionally"),
    "typing evaluates strings": ("import typing\nh = typing.get_type_hints", "typing.get_type_hints"),
    "the course's policy module": ("from hw.policy import module_object", "hw.policy"),
    "the grid's Dask runner": ("from hw.grid import run_grids", "imports hw.grid, which homework code may not use"),
    "format-string attribute path": ("s = '{0.__class__.__base__}'.format(1)", "reads an attribute or item"),
    "format on a computed string": ("fmt = '{0}'\ns = fmt.format(1)", ".format on a string"),
    "str.format unbound": ("s = str.format('{0.real}', 1)", ".format on a string"),
    "three-argument type": ("T = type('T', (), {})", "type() to make a class"),
    "a dunder method not on the list": ("class T:\n    def __torch_function__(self):\n        pass", "__torch_function__"),
    "a metaclass": ("import abc\nclass T(metaclass=abc.ABCMeta):\n    pass", "metaclass"),
    "os.write": ("import os\nos.write(5, b'frame')", "os.write"),
    "os.environ": ("import os\nos.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'", "assigns to something imported"),
    "os.environ changed by a method": ("import os\nos.environ.update(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')", "os.environ.update"),
    "patching torch": ("torch.equal = lambda *args: True", "assigns to something imported"),
    "patching a torch class": ("torch.Tensor.add = None", "assigns to something imported"),
    "patching an alias": ("T = torch.Tensor\nT.add = None", "assigns to something imported"),
    "patching through type()": ("type(torch.zeros(1)).add = None", "assigns to something imported"),
    "setattr on torch": ("setattr(torch, 'allclose', None)", "setattr() on something imported"),
    "a module handed around": ("mods = [torch]\nmods[0].library", "passes the module torch around"),
    "a module as a default": ("def f(lib=torch.nn):\n    return lib", "passes the module torch.nn around"),
    "data shared between student modules": ("from hw.layers import REGISTRY", "not a function, class or constant"),
    "the written answers read by code": ("from hw.answers import part1_q1", "the written answers are read by the grader"),
    "a tensor subclass": ("class Shown(torch.Tensor):\n    pass", "extends torch.Tensor"),
    "a parameter subclass": ("class P(torch.nn.Parameter):\n    pass", "extends torch.nn.Parameter"),
    "a custom autograd function": ("class F(torch.autograd.Function):\n    pass", "extends torch.autograd.Function"),
    "a computed base": ("class C(type(torch.zeros(1))):\n    pass", "which is not a class's name"),
    "a base bound to a library class": ("Base = torch.Tensor\nclass C(Base):\n    pass", "not a class this module defines"),
    "the dispatcher's keys": ("keys = torch.DispatchKeySet(torch.DispatchKey.Python)", "torch.DispatchKeySet"),
    "the dispatcher's guards": ("g = torch.ExcludeDispatchKeyGuard", "torch.ExcludeDispatchKeyGuard"),
    "a backend's kernel": ("f = torch.cudnn_convolution", "torch.cudnn_convolution"),
    "a match statement's class pattern": ("def f(g):\n    match g:\n        case object(__globals__=d):\n            return d",
                                          "a match statement"),
    "a computed getattr on self": ("class T:\n    def get(self, key):\n        return getattr(self, key)",
                                   "computed attribute name"),
    "a nested class's method with a foreign self": ("def f():\n    class H:\n        def get(self):\n"
                                                    "            return vars(self)\n    return H.get(torch)",
                                                    "another object than self"),
    "functools.wraps copies attributes": ("import functools\nf = functools.wraps(torch, assigned=('x',))", "functools.wraps"),
    "type() of a class, the metaclass": ("class Box:\n    pass\nmeta = type(Box)", "uses type() other than"),
    "a class patched through type()": ("def f(layer):\n    cls = type(layer)\n    cls.step = print", "uses type() other than"),
    "a class patched as an element of a list": ("def f(classes):\n    held = [torch.Tensor]\n    held[0].is_nested = 1",
                                                "an element of a container"),
    "a class patched after next(iter(...))": ("def f():\n    c = next(iter([torch.Tensor]))\n    c.is_nested = 1",
                                              "an object this code did not make"),
    "vars of a class": ("class T:\n    @classmethod\n    def own(cls):\n        return vars(cls)", "vars() on something other"),
    "a class changed from a classmethod": ("class T:\n    @classmethod\n    def use(cls, k):\n        setattr(cls, 'kernel', k)",
                                           "an object this code did not make"),
    "type(cls), the metaclass": ("class T:\n    @classmethod\n    def make(cls):\n        return type(cls)('C', (), {})",
                                 "uses type() other than"),
    "a property's function through type(self)": ("class T:\n    @property\n    def inside(self):\n        return vars(self)\n"
                                                 "    def read(self, o):\n        return type(self).inside.fget(o)",
                                                 "uses type() other than"),
    "a property's function": ("def f(p, o):\n    return p.fget(o)", ".fget"),
    "an instance method called through a classmethod's class": ("class T:\n    def contents(self):\n        return vars(self)\n"
                                                                "    @classmethod\n    def of(cls, o):\n        return cls.contents(o)",
                                                                "with another object than self as self"),
    "a classmethod's class named self": ("class T:\n    @classmethod\n    def use(self, k):\n        setattr(self, 'k', k)",
                                         "an object this code did not make"),
    "a decorator of the homework's named like setter": ("class H:\n    def setter(self, f):\n        return f\nh = H()\n"
                                                        "class T:\n    @h.setter\n    def c(self):\n        return vars(self)",
                                                        "vars() on something other than self"),
    "a cached property's function": ("import functools\nclass T:\n    @functools.cached_property\n    def c(self):\n"
                                     "        return 1\nf = T.c.func", ".func"),
    "a module laundered through hw": ("from hw.layers import torch as t2", "not a function, class or constant that hw/layers.py defines"),
    "a relative import": ("from . import layers", "relative import"),
    "async code": ("async def f():\n    pass", "async functions"),
    "a static method's parameter named self": ("class T:\n    @staticmethod\n    def contents(self):\n"
                                               "        return vars(self)", "vars() on something other than self"),
    "argparse given a namespace": ("import argparse\np = argparse.ArgumentParser()\np.parse_args([], namespace=torch)",
                                   "namespace of its own"),
    "argparse given a namespace by position": ("import argparse\nargparse.ArgumentParser().parse_known_args([], torch)",
                                               "namespace of its own"),
    "a metaclass, which makes classes from a dict": ("import abc\nK = abc.ABCMeta('K', (), {})", "abc.ABCMeta"),
    "a class's bases (type, for a metaclass)": ("class A:\n    pass\nbases = A.mro()", ".mro"),
    "argparse's parsing as a value": ("import argparse\nimport functools\n"
                                      "f = functools.partial(argparse.ArgumentParser().parse_args, [], torch)",
                                      "takes .parse_args as a value"),
    "a name another package defines, re-exported": ("from torch.optim.lr_scheduler import wraps", "that is, functools.wraps"),
    ":= in a default argument": ("def affine(kernel=(linear := F.linear)):\n    return kernel", "uses := in a header"),
    ":= in a lambda's default": ("f = lambda k=(linear := F.linear): k", "uses := in a header"),
    "weights written out": ("W = [" + ", ".join(["0.5"] * 500) + "]", "writes out 500 numbers"),
    "weights written out as bits": ("W = (" + ", ".join(["True", "False"] * 250) + ")", "True and False included"),
    "weights written out as one number": (f"W = {2 ** 200:#x}", "a number of 201 bits"),
    "weights written out as many strings": ("W = (" + ", ".join([repr("ab" * 1000)] * 5) + ")",
                                            "10,000 bytes of strings besides its docstrings"),
    "a name imported further down": ("def f():\n    return os.sys.modules\nimport os", "uses os.sys"),
    "one name for two imports": ("def f():\n    import numpy as k\n    return k\nimport torch.nn as k",
                                 "imports two different things as k"),
    "a class's bases through __class__": ("def f(o):\n    return o.__class__.__mro__", "__class__"),
    "a class kept through __class__": ("def f(o):\n    return o.__class__", "__class__"),
    "the module renamed": ("__name__ = 'hw.layers'", "uses the name __name__"),
    "__all__ written in a function": ("def f():\n    __all__ = []", "uses the name __all__"),
    "a library switch not listed": ("torch.backends.cudnn.enabled = False", "assigns to something imported"),
    "sys's modules": ("import sys\nm = sys.modules", "uses sys.modules"),
    "a base's __init__ on another object": ("def f(o):\n    torch.nn.Module.__init__(o)", "a private name"),
    "a docstring read as data": ('class A:\n    "1 2 3"\nw = A.__doc__', "__doc__"),
    "a tensor hook": ("x = torch.zeros(2, requires_grad=True)\nh = x.register_hook(print)", "hooks are for"),
    "a module hook": ("m = torch.nn.Linear(2, 2)\nh = m.register_forward_hook(print)", "hooks are for"),
    "an autograd node": ("x = torch.zeros(2, requires_grad=True)\nn = (x * 2).grad_fn", "hooks are for"),
    "a class pattern in a match statement": ("match layer:\n    case Linear(w=w):\n        pass", "a class pattern"),
    "getattr of self with a computed private name": ('v = getattr(self, f"_{name}")\nu = getattr(self, name)',
                                                     "computed attribute name"),
    "operator's attribute getter": ("import operator\nf = operator.attrgetter('w')", "operator.attrgetter"),
    "self rebound by a match capture": ('match layer:\n    case self:\n        v = getattr(self, "avg_" + name)',
                                        "computed attribute name"),
    "a computed name a frame's attribute may start with": ('v = getattr(self, "f_" + name)', "computed attribute name"),
    "a computed hook registration": ('v = getattr(self, f"register_{name}")', "computed attribute name"),
    "type() kept as a value": ("cls = type(layer)", "uses type() other than"),
    "the call stack from logging": ("import logging\nlogging.getLogger('x').warning('where', stack_info=True)",
                                    "stack_info=..., which reports the code that called yours"),
    "a caller's line from warnings": ("import warnings\nwarnings.warn('x', stacklevel=4)", "stacklevel=..."),
    # A function that can unpickle code is called where it is named: its keywords are checked in that call.
    "numpy.load bound to a name": ("import numpy as np\nload = np.load\nx = load('a.npy', None, True)", "takes numpy.load as a value"),
    "numpy.load in a partial": ("import functools\nimport numpy as np\nf = functools.partial(np.load, allow_pickle=True)",
                                "takes numpy.load as a value"),
    "torch.load as a default": ("def f(p, load=torch.load):\n    return load(p, weights_only=False)", "takes torch.load as a value"),
    "torch.load in a list": ("fs = [torch.load]\nx = fs[0]('a.pt', weights_only=False)", "takes torch.load as a value"),
    "numpy.load read with getattr": ("import numpy as np\nf = getattr(np, 'load')", "takes numpy.load as a value"),
    "numpy.load imported and renamed": ("from numpy import load\nl = load", "takes numpy.load as a value"),
    # A module:// backend imports a module by name; the backend is chosen from the list, written out.
    "a module backend": ("import matplotlib\nmatplotlib.use('module://notes_backend')", "with a backend that is not one of"),
    "a computed backend": ("import matplotlib.pyplot as plt\nplt.switch_backend(name)", "with a backend that is not one of"),
    "the backend in rcParams": ("import matplotlib.pyplot as plt\nplt.rcParams['backend'] = 'module://x'", "sets rcParams['backend']"),
    "a computed rcParams key": ("import matplotlib.pyplot as plt\nplt.rcParams[key] = 'x'", "sets rcParams[key]"),
}


def findings_for(source, file="hw/training.py"):
    text = "import torch\nimport torch.nn.functional as F\n" + textwrap.dedent(source)
    findings, problem = policy.check_source(text.encode(), file, {"hw.layers": {"Layer", "Linear", "EPS"}})
    assert problem is None
    return findings


@pytest.mark.parametrize("source, what", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(source, what):
    findings = findings_for(source)
    assert findings, f"{source!r} was not flagged"
    assert any(what in f.message for f in findings), [f.message for f in findings]
    assert all(f.from_scratch is None and f.line >= 3 for f in findings)


ALLOWED = {
    "getattr with a literal": 'w = getattr(layer, "w", None)',
    "setattr on self, and getattr of a literal name": "value = getattr(self, 'w')\nsetattr(self, name, value)",
    "vars of self": "state = vars(self)",
    "private attributes of self and super()": "self._cache = {}\nsuper().__init__()",
    "a named tuple's _asdict": "d = result._asdict()",
    "__name__ of a class": "n = type(self).__name__",
    "__class__ read as type() is": "n = self.__class__.__name__\nsame = layer.__class__ == Layer\ntwin = self.__class__()",
    "an import below the code that uses it": "import math\nn = math.pi",
    "a command line's exit status": "import sys\nsys.exit(0 if sys.argv else 1)",
    "a library base's __init__ on self": "torch.nn.Module.__init__(self)",
    "cuDNN's switches and matplotlib's defaults": "import matplotlib.pyplot as plt\ntorch.backends.cudnn.benchmark = True\n"
                                                   "plt.rcParams['figure.dpi'] = 100",
    "the environment and the module's file read": "import os\nd = os.environ.get('HW_DEVICE', os.path.dirname(__file__))",
    "a logger": "import logging\nlogging.getLogger(__name__).info('started')",
    "tensor item assignment": "x = torch.zeros(3)\nx[0] = 1\nx += 1",
    "a model's own attributes": "model = torch.nn.Linear(2, 3)\nmodel.weight.data.zero_()\nmodel.extra = 1",
    "a gradient set anywhere": "for p in layer.parameters():\n    p.grad = None",
    "a method called on self": "Layer.method(self, name, layer, result)",
    "functions of a module as values": "act = torch.relu\nlayers = [torch.nn.ReLU, torch.nn.Tanh]",
    "from x import module": "from torch.utils import data\nloader = data.DataLoader",
    "os.path": "import os\nok = os.path.isfile('checkpoint.pt')",
    "torch.load of weights": "state = torch.load('checkpoint.pt')",
    "format on a written-out string": "s = '{:.2f} {}'.format(1.5, 'x')",
    "a student module's own names": "from hw.layers import Linear",
    "the course's modules": "from hw.data import fast_mode",
    "open a file": "f = open('results.txt', 'w')",
    "main guard": "if __name__ == '__main__':\n    pass",
    "a constant from a student module": "from hw.layers import EPS",
    "type() for a name, a comparison or self": "n = type(layer).__name__\nsame = type(layer) == type(result)\n"
                                              "twin = type(self)()",
    "a static method called through cls": "class Parser:\n    @staticmethod\n    def parse(text):\n        return text.split()\n"
                                          "    @classmethod\n    def of(cls, text):\n        return cls(cls.parse(text))",
    "gradient clipping": "torch.nn.utils.clip_grad_norm_(layer.parameters(), 1.0)",
    "torch.no_grad() on a method": "class T:\n    @torch.no_grad()\n    def f(self):\n        self.seen = 1",
    "state registered on a module": "m = torch.nn.Module()\nm.register_buffer('count', torch.zeros(1))",
    "torch's tensor functions and switches": "y = torch.clamp_(torch.exp(torch.zeros(2, dtype=torch.float64)), 0)\n"
                                             "with torch.no_grad():\n    torch.manual_seed(0)",
    # An eighth attacker's honest idioms, each of which had withheld a whole grade.
    "getattr of self with a public prefix": 'setattr(self, f"avg_{name}", 0.0)\nv = getattr(self, f"avg_{name}")\n'
                                            'w = getattr(self, "best_" + name)',
    "type() printed": 'print("model:", type(layer))\ntext = f"{type(result)}"\nr = repr(type(layer))',
    "a match statement on values": 'match name:\n    case "cnn" | "resnet":\n        k = 1\n    case [a, *rest]:\n'
                                   '        k = 2\n    case {"kind": kind}:\n        k = 3\n    case _:\n        k = None',
    "contextlib, shutil and operator": "import contextlib, shutil, operator\nwith contextlib.nullcontext():\n"
                                       "    shutil.copyfile('a.pt', 'best.pt')\nbest = sorted(result, key=operator.itemgetter(1))",
    "tqdm in a notebook, matplotlib's backend and style": "import matplotlib\nimport matplotlib.pyplot as plt\n"
                                                          "from tqdm.notebook import tqdm\nmatplotlib.use('Agg')\n"
                                                          "plt.style.use('ggplot')",
    "self.__dict__ in a repr": 'text = f"Config({self.__dict__})"',
    "clear_output between epochs": "from IPython.display import clear_output\nclear_output(wait=True)",
    "a cached method": "import functools\nclass T:\n    def __init__(self):\n        self._calls = 0\n\n"
                       "    @functools.lru_cache(maxsize=None)\n    def f(self, n):\n        self._calls += 1\n        return n\n\n"
                       "    @functools.cache\n    def g(self):\n        return self._calls",
    "loading tensors and arrays, and a figure's look": "import numpy as np\nimport matplotlib.pyplot as plt\n"
                                                      "a = np.load('a.npy')\nb = torch.load('b.pt', map_location='cpu')\n"
                                                      "plt.rcParams['figure.figsize'] = (8, 4)\nplt.switch_backend('agg')",
}


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_allowed(source):
    body = textwrap.indent(textwrap.dedent(source), "        ")
    assert findings_for(f"class Layer:\n    def method(self, name, layer, result):\n{body}\n") == []


def test_classes_extend_the_homework_and_listed_library_classes():
    source = """
        import abc
        from typing import NamedTuple
        from torch import nn
        from torch.utils.data import Dataset
        from hw.layers import Layer

        class Net(nn.Sequential):
            pass

        class Block(Net, abc.ABC):
            pass

        class Pair(NamedTuple):
            a: int

        class Images(Dataset):
            pass

        class Mine(Layer):
            pass

        class Oops(ValueError):
            pass

        class Plain:
            class Inner(Exception):
                pass
    """
    assert findings_for(source, "hw/cnn.py") == []


@pytest.mark.parametrize("file", ["hw/cnn.py", "hw/layers.py", "hw/optimizers.py", "hw/answers.py"])
@pytest.mark.parametrize("source", ["from hw.data import make_shapes", "import hw.data\nx = hw.data.Shapes"],
                         ids=["from-import", "attribute"])  # fmt: skip
def test_models_read_no_data(file, source):
    """The modules the grader trains or checks on its own inputs may not read the course's data sets."""
    findings = findings_for(source, file)
    assert any(f"which {file} may not use" in f.message for f in findings), [f.message for f in findings]


@pytest.mark.parametrize("binding", ["from hw.layers import Linear as MyLinear", "MyLinear = torch.nn.Linear",
                                     "class Quick(torch.nn.Module):\n    pass\nMyLinear = Quick"])
def test_graded_code_is_defined_in_its_file(binding):
    """MyLinear is graded as the class hw/cnn.py writes: bound any other way, it is not the code the rule reads."""
    findings = findings_for(f"class MyLinear(torch.nn.Module):\n    pass\n{binding}\n", "hw/cnn.py")
    report = policy.Report(policy.Files(), findings)
    hits = report.scratch_findings(policy.OWN_MODULE_RULE, ["MyLinear"])
    assert any("binds MyLinear other than by its own class or def" in f.message for f in hits), [f.message for f in findings]


def test_vars_of_the_namespace_argparse_returned():
    """run-exp's command line may hand its options on as a dict (not vars() of any other object)."""
    source = "import argparse\ndef main(argv):\n    args = argparse.ArgumentParser().parse_args(argv)\n    return vars(args)\n"
    assert findings_for(source, "hw/experiments.py") == []
    other = "import argparse\ndef main(argv, obj):\n    args = obj\n    return vars(args)\n"
    assert any("calls vars()" in f.message for f in findings_for(other, "hw/experiments.py"))


@pytest.mark.parametrize("file", ["hw/cnn.py", "hw/layers.py", "hw/optimizers.py"])
def test_models_read_no_data_through_another_module(file):
    """What a module may not use, it may not take from a student module that may (a function that returns images)."""
    findings = findings_for("from hw.training import ClassifierTrainer", file)
    assert any("hw.training may use hw.data" in f.message for f in findings), [f.message for f in findings]


@pytest.mark.parametrize("file, allowed", [("hw/interpret.py", True), ("hw/cnn.py", False), ("hw/training.py", False)])
def test_hooks_only_where_a_part_studies_a_network(file, allowed):
    findings = findings_for("m = torch.nn.Linear(2, 2)\nh = m.register_forward_hook(print)", file)
    assert (findings == []) == allowed, [f.message for f in findings]


@pytest.mark.parametrize("file", ["hw/experiments.py", "hw/training.py", "hw/text.py", "hw/interpret.py"])
def test_studies_read_data(file):
    assert findings_for("from hw.data import make_shapes, Shapes", file) == []


# From-scratch code: what the part's rule refuses, however it is reached.
REFUSED = {
    "convolution": ("return F.conv2d(x, self.w)", "torch.nn.functional.conv2d"),
    "1-D pooling over a depth-1 volume": ("return F.max_pool1d(x.flatten(2), 2)", "max_pool1d"),
    "3-D pooling": ("return F.avg_pool3d(x.unsqueeze(1), 2)", "avg_pool3d"),
    "layer_norm": ("return F.layer_norm(x, x.shape[1:])", "layer_norm"),
    "group_norm": ("return torch.group_norm(x, 1)", "group_norm"),
    "unfold (im2col)": ("return F.unfold(x, 3)", "unfold"),
    "autograd": ("return torch.autograd.grad(x.sum(), x)", "torch.autograd.grad"),
    "enable_grad": ("with torch.enable_grad():\n    return x", "torch.enable_grad"),
    "getattr with a literal": ("return getattr(torch, 'conv2d')(x, self.w)", "uses torch.conv2d:"),
    "an alias at module level": ("return CONV(x, self.w)", "torch.conv2d"),
    "a helper at module level": ("return helper(x, self.w)", "torch.nn.functional.conv_transpose2d"),
    "another student module": ("from hw.training import Trainer\nreturn Trainer(x)", "hw.training"),
    "torch.optim": ("return torch.optim.SGD", "torch.optim.SGD"),
}


@pytest.mark.parametrize("body, what", REFUSED.values(), ids=REFUSED.keys())
def test_from_scratch_refused(body, what):
    source = f"""
    CONV = torch.conv2d

    def helper(x, w):
        return F.conv_transpose2d(x, w)

    class Layer:
        pass

    class Conv2d(Layer):
        def forward(self, x):
{textwrap.indent(textwrap.dedent(body), '            ')}

    class ReLU(Layer):
        def forward(self, x):
            return torch.clamp(x, min=0)
    """
    findings = findings_for(source, "hw/layers.py")
    report = policy.Report(policy.Files(), findings)
    hits = report.scratch_findings(policy.LAYER_RULE, ["Conv2d"])
    assert any(what in f.message for f in hits), [f.message for f in findings]
    # The helpers only Conv2d uses cost ReLU nothing.
    assert report.scratch_findings(policy.LAYER_RULE, ["ReLU"]) == []


@pytest.mark.parametrize("file, body", [
    ("hw/layers.py", "return F.softmax(x, dim=1) - F.log_softmax(x, dim=1)"),
    ("hw/cnn.py", "return torch.nn.init.uniform_(torch.empty(3), -1, 1)"),
    ("hw/layers.py", "return torch.clamp_min(x, 0) - F.one_hot(x.argmax(1), 3)"),
    ("hw/layers.py", "return torch.addmm(x, x, x.T) + torch.var_mean(x)[0] + torch.normal(0.0, 1.0, size=(2,))"),
    ("hw/layers.py", "return torch.clone(x) * np.sqrt(3) + torch.LongTensor([1]) + torch.diagonal(x)"),
], ids=["softmax of torch.nn.functional", "torch.nn.init in MyLinear", "clamp_min and one_hot",
        "addmm, var_mean and normal", "clone, numpy's sqrt of a number, LongTensor"])
def test_from_scratch_allows_what_its_rule_lists(file, body):
    header = "class Linear:" if file == "hw/layers.py" else "class MyLinear(torch.nn.Module):"
    source = f"import numpy as np\n{header}\n    def forward(self, x):\n        {body}\n"
    findings = findings_for(source, file)
    assert [f.message for f in findings if f.from_scratch] == []


@pytest.mark.parametrize("store", ["KERNELS[name] = function", "KERNELS.update({name: function})",
                                   "global CONV\n        CONV = function"], ids=["item", "method", "global"])
def test_from_scratch_code_keeps_no_value_its_callers_pass(store):
    """A registry that another module fills (register("conv", F.conv2d)) would run code the rule never reads."""
    source = f"""
    KERNELS = {{}}
    CONV = None

    def register(name, function):
        {store}

    class Conv2d:
        def forward(self, x):
            return KERNELS["conv"](x) + CONV(x)
    """
    findings = findings_for(source, "hw/layers.py")
    hits = policy.Report(policy.Files(), findings).scratch_findings(policy.LAYER_RULE, ["Conv2d"])
    assert any("stores its parameter function in" in f.message for f in hits), [f.message for f in findings]


def test_a_classs_own_base_init_and_a_self_test_run_as_a_script():
    """Base.__init__(self) for a class of the module; a self-test under the main guard never runs when graded."""
    source = """
    class LeakyReLU:
        def __init__(self, alpha=0.01):
            self.alpha = alpha

    class ReLU(LeakyReLU):
        def __init__(self):
            LeakyReLU.__init__(self, alpha=0.0)

    if __name__ == "__main__":
        import numpy as np
        from hw.grad_check import rel_error
        print(rel_error(np.maximum(1, 2), 2))
    """
    assert findings_for(source, "hw/layers.py") == []
    other = findings_for("class A:\n    def __init__(self):\n        pass\n\ndef f(o):\n    A.__init__(o)\n", "hw/layers.py")
    assert any("__init__" in f.message for f in other), "not on another object"


def test_the_policy_imports_only_the_modules_it_allows(tmp_path):
    """It runs in the grader's process: a module a submission merely names (import this prints) is never imported."""
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "classifier.py").write_text("import this\nimport antigravity\n")
    proc = subprocess.run([sys.executable, "-m", "hw.policy", str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)  # fmt: skip
    assert "imports this, which homework code may not use" in proc.stdout, proc.stdout + proc.stderr
    assert "Beautiful is better than ugly" not in proc.stdout + proc.stderr


def test_a_declared_encoding_cannot_be_graded():
    """Python decodes a file as its coding line says: a module the rules read as UTF-8 must be UTF-8 to Python too."""
    source = "# -*- coding: utf-7 -*-\nx = 1 +AAo-import os\n".encode()
    assert policy.check_source(source, "hw/training.py") == ([], "hw/training.py declares the encoding utf-7: save it "
                                                              "as UTF-8 without an encoding line")  # fmt: skip


@pytest.mark.parametrize("binding", [
    "for ops in [torchvision.ops]:\n    pass",
    "with open('x') as f:\n    ops = torchvision.ops",
    "def setup():\n    global ops\n    ops = torchvision.ops",
    "if (ops := torchvision.ops):\n    pass",
], ids=["for", "with", "global", "walrus"])
def test_a_scoped_rule_follows_every_top_level_binding(binding):
    """Code box_iou uses through a name bound at the top level, however it was bound, is box_iou's code."""
    source = f"import torchvision.ops\n{binding}\n\ndef box_iou(a, b):\n    return ops.box_iou(a, b)\n"
    findings, _ = policy.check_source(source.encode(), "hw/interpret.py")
    report = policy.Report(policy.Files(), findings)
    assert any("torchvision.ops" in f.message for f in report.scratch_findings(policy.BOX_RULE, ["box_iou"])), findings


def test_scoped_rules_leave_the_rest_of_the_module_alone():
    source = """
    from torch import nn

    class MyConv2d(nn.Module):
        def forward(self, x):
            return nn.functional.conv2d(x, self.weight)

    class MyLinear(nn.Module):
        def forward(self, x):
            return x @ self.weight.T

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 5)
    """
    findings = findings_for(source, "hw/cnn.py")
    report = policy.Report(policy.Files(), findings)
    assert [f.scope for f in findings] == ["MyConv2d"]
    assert report.scratch_findings(policy.OWN_MODULE_RULE, ["MyConv2d"])
    assert not report.scratch_findings(policy.OWN_MODULE_RULE, ["MyLinear"])


@pytest.mark.parametrize("line", ["import numpy as np", "from torch import nn", "from __future__ import annotations",
                                  "from collections.abc import Iterable"])
def test_an_unused_import_costs_nothing_a_use_is_refused(line):
    """A from-scratch rule refuses what code uses, wherever it came from: an import that nothing uses runs nothing."""
    assert findings_for(f"{line}\n", "hw/layers.py") == []
    findings = findings_for("import numpy as np\n\nclass ReLU:\n    def forward(self, x):\n        return np.maximum(x, 0)\n",
                            "hw/layers.py")  # fmt: skip
    assert [f.message.split(":")[0] for f in findings] == ["uses numpy.maximum"]
    assert findings[0].from_scratch is policy.LAYER_RULE and findings[0].scope == "ReLU"


def test_homework_code_raises_no_policy_message(tmp_path):
    """The solution, the release and every bundled example but the cheats: no flag; only the from-scratch bugs refused."""
    for folder in (REPO_ROOT, RELEASE):
        report = policy.check_folder(folder)
        assert report.findings == [] and not report.files.unreadable, (folder, report.findings)
    for example in load_examples():
        report = policy.check_folder(build_example(example, tmp_path / example.name))
        assert bool(report.flags) == example.flagged, (example.name, report.flags)


def test_the_lists_of_files_are_the_release():
    assert sorted(p.name for p in (RELEASE / "hw").glob("*.py")) == sorted(policy.STUDENT_FILES + policy.PROVIDED_FILES)
    assert not set(policy.STUDENT_FILES) & set(policy.PROVIDED_FILES)


def test_only_the_student_modules_are_graded(tmp_path):
    package = tmp_path / "hw"
    package.mkdir()
    for name in policy.STUDENT_FILES:
        (package / name).write_bytes((RELEASE / "hw" / name).read_bytes())
    (package / "_fast.py").write_text("import torch\n")
    (package / "layers.cpython-311.pyc").write_bytes(b"\x00")
    (package / "data.py").write_text("tampered = True\n")  # the course's module: the grader uses its own copy
    (package / "sub").mkdir()
    (package / "sub" / "x.py").write_text("")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "layers.cpython-311.pyc").write_bytes(b"\x00")
    (package / "optimizers.py").unlink()
    (package / "optimizers.py").symlink_to(REPO_ROOT / "hw" / "optimizers.py")
    (package / "text.py").write_bytes("# caf\xe9\n".encode("latin-1"))
    files = policy.collect(tmp_path)
    assert files.left_out == ["hw/_fast.py", "hw/layers.cpython-311.pyc", "hw/sub/x.py"]
    assert "link" in files.unreadable["hw/optimizers.py"] and "optimizers.py" not in files.modules
    report = policy.check_folder(tmp_path)
    assert "not UTF-8" in report.files.unreadable["hw/text.py"]
    assert set(files.modules) == set(policy.STUDENT_FILES) - {"optimizers.py"}


def run_check(folder, *args):
    done = subprocess.run([sys.executable, "-m", "hw.check", str(folder), *args], cwd=folder, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    return done.returncode, done.stdout


def test_check_on_the_release_says_what_is_left(tmp_path):
    code, out = run_check(RELEASE, "--no-zip")
    assert code == 0, out
    assert "your modules follow every rule" in out and "every module imports" in out
    assert "hw/layers.py: LeakyReLU.forward, LeakyReLU.backward" in out and "still to write" in out


def test_check_on_the_solution_writes_the_zip(tmp_path):
    folder = tmp_path / ASSIGNMENT
    build_example(next(e for e in load_examples() if e.name == "solution"), folder)
    (folder / "hw" / "helper.py").write_text("x = 1\n")
    (folder / ".venv").mkdir()
    (folder / ".venv" / "big").write_bytes(b"0" * 1000)
    code, out = run_check(folder)
    assert code == 0, out
    assert "not graded" in out and "hw/helper.py" in out
    assert out.rstrip().endswith("Ready to hand in.")
    with zipfile.ZipFile(folder / check.ZIP_NAME) as zf:
        names = zf.namelist()
    assert sorted(n for n in names if "/hw/" in n) == sorted(f"{ASSIGNMENT}/hw/{n}" for n in policy.STUDENT_FILES)
    assert not [n for n in names if ".venv" in n or "helper" in n]


@pytest.mark.parametrize("name, said", [
    ("allclose_cheat", "hw/layers.py:20 assigns to something imported (homework code changes no library)\n"
                       "      -> flags your submission for review"),
    ("conv_calls_torch", "uses torch.nn.functional.conv2d: this part's layers compute their forward and backward "
                         "passes themselves"),
])  # fmt: skip
def test_check_says_what_the_grader_will_say(tmp_path, name, said):
    """The check's words are the grader's: the flag's message, or the from-scratch failure the tests of Conv2d give."""
    example = next(e for e in load_examples() if e.name == name)
    code, out = run_check(build_example(example, tmp_path / name), "--no-zip")
    assert code == 1 and said in out and "Not ready" in out, out


def test_code_nested_too_deep_is_refused_not_a_crash():
    """The rules walk the syntax tree: a module nested deeper than anyone writes is unreadable, with why."""
    deep = "y = " + " + ".join(["1"] * 500) + "\n"
    findings, problem = policy.check_source(deep.encode(), "hw/answers.py")
    assert findings == [] and "nests its code more than 100 levels deep" in problem
    nested = "x = " + "[" * 150 + "]" * 150 + "\n"
    assert "nests its code more than 100 levels deep" in policy.check_source(nested.encode(), "hw/answers.py")[1]
    assert policy.check_source(b"y = " + b" + ".join([b"1"] * 90) + b"\n", "hw/answers.py") == ([], None)


def test_data_the_graded_code_reads_brings_its_writers_under_the_rule():
    """MyConv2d reads a module-level dict of kernels: the function that fills it, and the statement that runs it, are its code."""
    source = """
    KERNELS = {}

    def fill_kernels():
        KERNELS["conv"] = F.conv2d

    fill_kernels()

    class MyConv2d(torch.nn.Module):
        def forward(self, x):
            return KERNELS["conv"](x, self.weight)
    """
    findings = findings_for(source, "hw/cnn.py")
    report = policy.Report(policy.Files(), findings)
    hits = report.scratch_findings(policy.OWN_MODULE_RULE, ["MyConv2d"])
    assert any("torch.nn.functional.conv2d" in f.message for f in hits), [f.message for f in findings]
