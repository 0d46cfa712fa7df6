"""
The homework's rules for code: what the grader runs and what your modules may use.

The grader and ``python -m hw.check`` read this same file, so what the check
tells you before you hand in is what the grader will do.

A closed world of files
    Only the modules in STUDENT_FILES are taken from your hw/ folder; the
    other modules of the homework (data.py, plot.py, ...) are the course's own
    copies. Any other file in hw/ (a helper module, a .pyc, a data file) is not
    graded, and a module that is not UTF-8 Python source cannot be graded.

A closed world of code, checked on the source before anything runs
    - imports come from MODULES only (the standard modules homework needs,
      torch, numpy, matplotlib, scikit-learn's metrics, tqdm and the hw
      modules); a library's attributes that are modules must be in MODULES
      too (``torch.library``, ``torch.jit`` and ``torch.ops`` are not); a
      module is used through its names (``torch.zeros``), never handed around
      as a value; a name imported from another of your modules must be one
      that module defines (not a module it imported);
    - no attribute that starts with ``_`` except on ``self``, ``cls`` or
      ``super()`` (and READABLE_DUNDERS, NAMEDTUPLE_API anywhere); no
      imported name that starts with ``_``; no name that starts with ``__``
      but ``__name__``; a class defines no dunder method but CLASS_DUNDERS;
    - ``getattr``/``setattr``/``delattr``/``hasattr`` with a literal public
      name (or on ``self``); no ``eval``, ``exec``, ``compile``, ``globals``,
      ``locals``, ``breakpoint``, ``vars`` of anything but ``self``, nor a
      three-argument ``type``; these built-ins are called, never passed around;
    - no frame or code attribute (``f_globals``, ``tb_frame``, ``gi_frame``...);
    - ``str.format`` only on a written-out string whose fields name no
      attribute or item;
    - nothing imported is changed: no assignment to, or deletion of, an
      attribute or item of an imported module or of what came from one;
    - ``torch.load`` and ``numpy.load`` only without unpickling code.
    Breaking one of these rules reaches for the grader rather than doing the
    homework: the grader flags the submission for a person to review.

From-scratch rules (FROM_SCRATCH)
    The code that a part asks you to write from scratch (Part 1 and 3's
    layers, the optimizers, MyLinear and MyConv2d, box_iou and nms) may use
    only the operations its rule names: tensor arithmetic, reductions, matrix
    products, views, indexing and padding. Breaking one fails that code's
    tests, with the line.

Why not RestrictedPython: it rewrites code to call guards at run time and
rejects idioms every PyTorch module uses (``super().__init__()``,
``self.count += 1``); its compile-time rules (no names starting with ``_``,
no frame attributes, node types it does not know are errors) are the model
for the rules above, which only read the code.
"""
import argparse
import ast
import builtins
import fnmatch
import functools
import importlib
import io
import itertools
import string
import sys
import tokenize
import types
from dataclasses import dataclass, field, replace
from pathlib import Path

# -- the closed world of files ------------------------------------------------

# The modules you write (the grader takes them from your hw/ folder).
STUDENT_FILES = ("layers.py", "optimizers.py", "training.py", "answers.py", "cnn.py", "classifier.py",
                 "experiments.py", "text.py", "interpret.py")  # fmt: skip
# The course's modules (the grader uses its own copies, whatever your hw/ holds).
PROVIDED_FILES = ("__init__.py", "check.py", "data.py", "detection.py", "grad_check.py", "grad_compare.py", "grid.py",
                  "plot.py", "policy.py", "studies.py", "targets.py")  # fmt: skip
MAX_SOURCE_BYTES = 1 << 20


# -- the closed world of code -----------------------------------------------


@dataclass(frozen=True)
class Library:
    """
    A module homework code may import. ``attributes``: the names it may use
    (None: every public one). ``refused``: public names that are still a way
    around the rules, with the reason.
    """

    attributes: frozenset | None = None
    refused: dict = field(default_factory=dict)
    # The student files that may use it (None: all), and why the others may not.
    files: tuple | None = None
    why_not_others: str = ""
    # Whether the files that may not use it may not import a student module that may (what it hands out is data).
    not_through_others: bool = False
    # Computes ``attributes`` when they are first needed (torch's, from the installed torch).
    listed_by: object = None

    def names(self) -> frozenset | None:
        return self.listed_by() if self.listed_by is not None else self.attributes


ANY = Library()


def only(*names, files=None, why_not_others="", not_through_others=False):
    return Library(frozenset(names), files=files, why_not_others=why_not_others, not_through_others=not_through_others)


# The course's modules that homework code may use, and which of their names (not the grid's Dask runner, the
# notebooks' checking helpers, nor hw.policy and hw.check, which run code in other interpreters).
PROVIDED_NAMES = {
    "hw.data": only("DEFAULT_DATA_DIR", "data_dir", "fast_mode", "DatasetMissing", "REAL_DATASETS", "cifar10",
                    "cifar100", "fashion_mnist", "TensorImages", "Digits", "SHAPE_CLASSES", "shape_masks",
                    "mask_boxes", "make_shapes", "Shapes", "image_classification",
                    files=("training.py", "classifier.py", "experiments.py", "text.py", "interpret.py"),
                    why_not_others="only the modules that train and study models read data (the grader trains yours on its own images)",
                    not_through_others=True),
    "hw.plot": only("plot_fit", "tensors_as_images", "dataset_first_n"),
    "hw.targets": only("check_target"),
    "hw.grad_check": only("eval_numerical_gradient", "eval_numerical_gradient_array", "rel_error"),
}  # fmt: skip
STUDENT_MODULE_NAMES = {f"hw.{name[:-3]}": ANY for name in STUDENT_FILES}  # what each defines (check_folder)
# The written answers are text for the staff, read by the grader and the notebooks: free text is data, no module's code.
STUDENT_MODULE_NAMES["hw.answers"] = Library(files=(), why_not_others="the written answers are read by the grader and "
                                             "the notebooks, not by the homework's code")  # fmt: skip
# The standard library, module by module, as allowlists: a module's every public name would include evaluators of
# strings (typing.get_type_hints, functools.singledispatch) and thread pools.
STANDARD = {
    "abc": only("ABC", "abstractmethod"),  # not ABCMeta: a metaclass called makes a class from a dict of anything
    # parse_args(namespace=...) sets attributes on any object: only for the modules' command lines, never given one.
    "argparse": only("ArgumentParser", "Namespace", "ArgumentTypeError", "SUPPRESS", files=("experiments.py", "text.py"),
                     why_not_others="only experiments.py and text.py have a command line"),
    "bisect": only("bisect", "bisect_left", "bisect_right", "insort"),
    "collections": only("Counter", "OrderedDict", "defaultdict", "deque", "namedtuple"),
    "collections.abc": only("Callable", "Iterable", "Iterator", "Mapping", "Sequence"),
    "contextlib": only("nullcontext", "contextmanager", "suppress", "closing"),
    "copy": only("copy", "deepcopy"),
    "csv": only("reader", "writer", "DictReader", "DictWriter"),
    "dataclasses": only("dataclass", "field", "asdict", "astuple", "fields", "replace"),
    "datetime": only("datetime", "date", "timedelta", "timezone"),
    "enum": only("Enum", "IntEnum", "auto"),
    # Not wraps/update_wrapper: they copy any attribute of one object onto another (a getattr by another name).
    "functools": only("lru_cache", "cache", "cached_property", "partial", "reduce", "total_ordering"),
    "__future__": only("annotations"),
    "glob": only("glob"),
    "logging": only("getLogger", "basicConfig", "Logger", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    "heapq": only("heappush", "heappop", "heapify", "nlargest", "nsmallest"),
    "itertools": ANY,
    "json": only("dump", "dumps", "load", "loads", "JSONDecodeError"),
    "math": ANY,
    "numbers": ANY,
    # Not attrgetter/methodcaller: attribute and method names as strings (getattr by another name).
    "operator": only("itemgetter", "add", "sub", "mul", "truediv", "floordiv", "neg", "lt", "le", "gt", "ge", "eq",
                     "ne"),
    "os": only("path", "makedirs", "listdir", "scandir", "walk", "remove", "unlink", "rmdir", "mkdir", "replace",
               "rename", "getcwd", "sep", "pardir", "curdir", "linesep", "fspath", "PathLike", "cpu_count", "environ",
               "getenv"),
    "os.path": ANY,
    "pathlib": only("Path", "PurePath"),
    "random": only("Random", "random", "seed", "shuffle", "randint", "randrange", "choice", "choices", "sample",
                   "uniform", "gauss", "getstate", "setstate"),
    "re": only("compile", "match", "fullmatch", "search", "sub", "subn", "split", "findall", "finditer", "escape",
               "IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "Pattern", "Match"),
    "shutil": only("copyfile", "copy", "copy2", "copytree", "move", "rmtree", "disk_usage", "which"),
    "statistics": ANY,
    # A command line's arguments, its exit status and its output streams: not modules, paths, hooks or frames.
    "sys": only("argv", "exit", "stdout", "stderr", "version_info", "platform", "maxsize"),
    "textwrap": only("dedent", "indent", "fill", "wrap", "shorten"),
    "time": only("time", "perf_counter", "monotonic", "process_time", "sleep", "strftime", "localtime"),
    "typing": only("Any", "Callable", "ClassVar", "DefaultDict", "Deque", "Dict", "Final", "FrozenSet", "Generator",
                   "Iterable", "Iterator", "List", "Literal", "Mapping", "NamedTuple", "Optional", "Sequence", "Set",
                   "Tuple", "Type", "TypeVar", "Union", "TYPE_CHECKING", "cast", "overload"),
    "warnings": only("warn", "catch_warnings", "simplefilter", "filterwarnings"),
    "urllib.request": only("urlopen", "urlretrieve", "Request"),  # downloads; the grader has no network
}  # fmt: skip
# torch's own names beside its tensor functions: types and constants, tensors made from nothing, and the switches
# of gradients, random numbers, threads and printing. Not the dispatcher's keys and guards, TorchScript, the
# compiler, storages or the backend-specific kernels.
TORCH_EXTRAS = frozenset({
    "Tensor", "Size", "device", "dtype", "Generator", "finfo", "iinfo", "layout", "memory_format", "strided",
    "contiguous_format", "channels_last", "preserve_format", "inf", "nan", "pi", "e", "newaxis", "FloatTensor",
    "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor", "HalfTensor",
    "tensor", "as_tensor", "asarray", "from_numpy", "zeros", "ones", "empty", "full", "eye", "arange", "range",
    "linspace", "logspace", "rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like",
    "normal", "scalar_tensor", "tril_indices", "triu_indices", "hann_window", "hamming_window", "bartlett_window",
    "blackman_window", "kaiser_window", "vander", "broadcast_shapes", "promote_types", "result_type", "can_cast",
    "is_tensor", "typename", "unique", "as_strided", "fill", "zero_",
    "no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "is_grad_enabled", "is_inference_mode_enabled",
    "autocast", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled", "get_num_threads", "set_num_threads",
    "get_num_interop_threads", "set_num_interop_threads", "get_default_dtype", "set_default_dtype",
    "set_printoptions", "get_float32_matmul_precision", "set_float32_matmul_precision", "save", "load",
})  # fmt: skip


@functools.cache
def torch_names() -> frozenset:
    """
    What homework code may use of ``torch`` itself: its functions on tensors
    (those torch.overrides lists as overridable, with their in-place forms
    ``exp_``), its dtypes, and TORCH_EXTRAS. Its submodules are MODULES of their own.
    """
    import torch
    import torch.overrides

    functions = {f.__name__ for f in torch.overrides.get_overridable_functions().get(torch, ())}
    in_place = {name for name in dir(torch) if name.endswith("_") and name[:-1] in functions}
    dtypes = {name for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype)}
    return frozenset({n for n in functions | in_place | dtypes | TORCH_EXTRAS if not n.startswith("_")}
                     - {"compile", "load_library"})


MODULES = {
    **STANDARD,
    "torch": Library(listed_by=torch_names),
    **{name: ANY for name in (
        "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.utils.data", "torch.optim",
        "torch.optim.lr_scheduler", "torch.autograd", "torch.linalg", "torch.special", "torch.fft",
        "torch.distributions", "torch.cuda", "torch.mps", "torch.backends", "torch.backends.cudnn",
        "torch.backends.mps", "torch.random",
        "numpy", "numpy.linalg", "numpy.random", "numpy.fft",
        "matplotlib.pyplot",
        "torchvision.transforms", "torchvision.utils",
    )},
    "sklearn.metrics": only("accuracy_score", "auc", "classification_report", "confusion_matrix", "f1_score",
                            "precision_recall_curve", "precision_score", "recall_score", "roc_auc_score", "roc_curve",
                            "ConfusionMatrixDisplay", "RocCurveDisplay"),
    "torch.nn.utils": only("clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"),
    "tqdm": only("tqdm", "trange"),
    "tqdm.auto": only("tqdm", "trange"),
    "tqdm.notebook": only("tqdm", "trange"),
    "matplotlib": only("use"),
    "matplotlib.style": only("use", "context", "available"),
    "matplotlib.pyplot.style": only("use", "context", "available"),  # the same module, reached as plt.style
    "IPython.display": only("Markdown", "display", "HTML", "Image", "Latex", "Math", "clear_output"),
    **PROVIDED_NAMES,
    **STUDENT_MODULE_NAMES,
}  # fmt: skip
# Public names of named tuples and the dunders any object may show.
NAMEDTUPLE_API = frozenset({"_asdict", "_replace", "_fields", "_make"})
READABLE_DUNDERS = frozenset({"__name__", "__qualname__"})  # not __doc__: a docstring is text, never data the code reads
# Library objects homework code may read but not change, with the methods that read them.
READ_ONLY = {"os.environ": ("get", "keys", "items", "values", "copy")}
MODULE_DUNDERS = frozenset({"__name__", "__file__", "__all__"})  # read; __all__ also written, at the top of a module
# Library switches and settings homework code may set (cuDNN's algorithm choice, matplotlib's defaults).
SETTABLE_LIBRARY = frozenset({"torch.backends.cudnn.benchmark", "torch.backends.cudnn.deterministic"})
SETTABLE_LIBRARY_ITEMS = frozenset({"matplotlib.pyplot.rcParams", "matplotlib.rcParams"})
# The settings of rcParams homework code may set: those of a figure's look, by their group (figure.figsize,
# font.size, axes.grid, ...). Not the backend, nor a setting that runs a program (text.usetex, animation.*).
SETTABLE_RC_GROUPS = frozenset({"figure", "font", "axes", "lines", "image", "legend", "xtick", "ytick", "grid",
                                "savefig", "patch", "scatter", "hist", "errorbar", "boxplot", "markers", "contour"})  # fmt: skip
# The backends matplotlib.use() and pyplot.switch_backend() may choose (a module:// backend imports a module by name).
BACKENDS = frozenset({"agg", "pdf", "svg", "ps", "cairo", "template", "inline", "module://matplotlib_inline.backend_inline"})
BACKEND_SWITCHES = frozenset({"matplotlib.use", "matplotlib.pyplot.switch_backend"})
# Literal data in one module (the written answers aside): the solution's modules write out at most ~150 numbers
# (True and False among them), none wider than 12 bits, and ~2,900 bytes of strings besides their docstrings.
# Thousands of numbers, or one number or text that long, are weights trained elsewhere.
MAX_NUMBERS = 400
MAX_INT_BITS = 64
MAX_TEXT_BYTES = 8000
# The dunder methods a class of the homework may define.
CLASS_DUNDERS = frozenset({"__init__", "__repr__", "__str__", "__len__", "__getitem__", "__call__", "__iter__",
                           "__next__", "__post_init__", "__enter__", "__exit__"})  # fmt: skip
# The library classes homework classes may extend (and their subclasses): not torch.Tensor, whose subclasses
# are called back by PyTorch itself (printing a tensor runs its properties outside every dispatch mode).
LIBRARY_BASES = ("torch.nn.Module", "torch.utils.data.Dataset", "torch.utils.data.Sampler", "torch.optim.Optimizer",
                 "torch.optim.lr_scheduler.LRScheduler", "abc.ABC", "enum.Enum", "typing.NamedTuple")  # fmt: skip
REFLECTION = ("getattr", "setattr", "delattr", "hasattr")
TEXT_MAKERS = ("print", "str", "repr", "format")  # built-ins that make text of what they are given
CALLER_KEYWORDS = ("stack_info", "stacklevel")
GRAD_MODE_DECORATORS = frozenset({"torch.no_grad", "torch.inference_mode", "torch.enable_grad"})
# Hooks (module and tensor hooks, an autograd node's) only where a part studies a network from outside it.
HOOK_FILES = ("interpret.py",)
REGISTERS_STATE = frozenset({"register_buffer", "register_parameter", "register_module"})
REFUSED_FAMILIES = ("register_",)  # attribute names refused by their start (hooks), but REGISTERS_STATE
ARGUMENT_PARSING = frozenset({"parse_args", "parse_known_args", "parse_intermixed_args", "parse_known_intermixed_args"})
# Decorators under which a method's first parameter is still the object it runs on (another decorator could call it
# with anything: its first parameter is then an ordinary name).
METHOD_DECORATORS = frozenset({"property", "setter", "getter", "deleter", "abstractmethod", "classmethod",
                               "cached_property"})  # fmt: skip
# functools' caches: the method behind them is called with the arguments the cache was called with, self first.
CACHING_DECORATORS = ("functools.lru_cache", "functools.cache")
# Attributes any code may set, on whatever object: a tensor's gradient and data.
SETTABLE_ANYWHERE = frozenset({"grad", "data"})
DYNAMIC_CODE = {"eval": "eval()", "exec": "exec()", "compile": "compile()", "globals": "globals()",
                "locals": "locals()", "breakpoint": "breakpoint()", "vars": "vars()", "type": "type()"}  # fmt: skip
# The attributes of frames, tracebacks, generators and code objects (as RestrictedPython's INSPECT_ATTRIBUTES), and
# a property's functions (called directly, they take any object as their self).
INTROSPECTION = frozenset({
    "tb_frame", "tb_next", "f_back", "f_builtins", "f_code", "f_globals", "f_locals", "f_trace", "co_code",
    "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "cr_await", "cr_frame", "cr_code", "cr_origin",
    "ag_await", "ag_frame", "ag_code", "fget", "fset", "fdel", "func",
    "mro",  # a class's bases in order: of a metaclass, type itself (which makes classes from a dict)
})  # fmt: skip
# Calls whose keywords would unpickle code: (function, keyword) -> the values that are safe. These functions are
# called where they are named, never kept as a value (a name bound to them, an argument, a default): their keywords
# are checked in the call.
UNPICKLING_KEYWORDS = {("torch.load", "weights_only"): (True,), ("torch.load", "pickle_module"): (),
                       ("numpy.load", "allow_pickle"): (False,)}  # fmt: skip
UNPICKLING_FUNCTIONS = frozenset(function for function, _ in UNPICKLING_KEYWORDS)
# The syntax homework code may use, as ast's node types: not async code, a match statement's class patterns (they
# read attributes by name, and __match_args__ by position) or except*, nor any syntax a newer Python adds.
ALLOWED_SYNTAX = frozenset({
    "Module", "FunctionDef", "ClassDef", "Return", "Delete", "Assign", "AugAssign", "AnnAssign", "For", "While", "If",
    "With", "Raise", "Try", "Assert", "Import", "ImportFrom", "Global", "Nonlocal", "Expr", "Pass", "Break",
    "Continue", "BoolOp", "NamedExpr", "BinOp", "UnaryOp", "Lambda", "IfExp", "Dict", "Set", "ListComp", "SetComp",
    "DictComp", "GeneratorExp", "Yield", "YieldFrom", "Compare", "Call", "FormattedValue", "JoinedStr", "Constant",
    "Attribute", "Subscript", "Starred", "Name", "List", "Tuple", "Slice", "Load", "Store", "Del", "And", "Or", "Add",
    "Sub", "Mult", "MatMult", "Div", "Mod", "Pow", "LShift", "RShift", "BitOr", "BitXor", "BitAnd", "FloorDiv",
    "Invert", "Not", "UAdd", "USub", "Eq", "NotEq", "Lt", "LtE", "Gt", "GtE", "Is", "IsNot", "In", "NotIn",
    "comprehension", "ExceptHandler", "arguments", "arg", "keyword", "alias", "withitem",
    "Match", "match_case", "MatchValue", "MatchSingleton", "MatchSequence", "MatchMapping", "MatchStar", "MatchAs",
    "MatchOr",
})  # fmt: skip
SYNTAX_NAMES = {"AsyncFunctionDef": "async functions", "Await": "await", "AsyncFor": "async for",
                "AsyncWith": "async with", "TryStar": "except*",
                "MatchClass": "a class pattern in a match statement (case Name(...): use isinstance)"}  # fmt: skip


# -- from-scratch rules -------------------------------------------------------

# What code written from scratch may use of torch: making tensors, arithmetic
# and elementwise functions, reductions, matrix products, views and
# reshaping, indexing, padding, and random numbers (dropout). Not
# convolution, pooling, normalisation, linear layers, losses, autograd or a
# library's optimizers, however reached.
TENSOR_BASICS = frozenset({
    # types
    "torch.Tensor", "torch.Size", "torch.dtype", "torch.device", "torch.Generator", "torch.float16", "torch.bfloat16",
    "torch.float32", "torch.float64", "torch.float", "torch.double", "torch.half", "torch.int8", "torch.uint8",
    "torch.int16", "torch.int32", "torch.int64", "torch.int", "torch.long", "torch.bool", "torch.is_tensor",
    "torch.is_floating_point", "torch.finfo", "torch.iinfo", "torch.no_grad", "torch.inference_mode", "torch.inf",
    "torch.nan", "torch.pi", "torch.e",
    # making tensors
    "torch.tensor", "torch.as_tensor", "torch.zeros", "torch.ones", "torch.empty", "torch.full", "torch.eye",
    "torch.arange", "torch.linspace", "torch.zeros_like", "torch.ones_like", "torch.empty_like", "torch.full_like",
    "torch.rand", "torch.randn", "torch.randint", "torch.rand_like", "torch.randn_like", "torch.randperm",
    "torch.bernoulli", "torch.normal", "torch.manual_seed", "torch.clone", "torch.FloatTensor", "torch.DoubleTensor",
    "torch.LongTensor", "torch.IntTensor", "torch.BoolTensor",
    # arithmetic and elementwise functions
    "torch.add", "torch.sub", "torch.mul", "torch.div", "torch.true_divide", "torch.neg", "torch.abs", "torch.sign",
    "torch.pow", "torch.sqrt", "torch.rsqrt", "torch.square", "torch.exp", "torch.log", "torch.log1p", "torch.expm1",
    "torch.tanh", "torch.sigmoid", "torch.sin", "torch.cos", "torch.reciprocal", "torch.clamp", "torch.clip",
    "torch.maximum", "torch.minimum", "torch.clamp_min", "torch.clamp_max", "torch.where", "torch.floor", "torch.ceil", "torch.round", "torch.trunc",
    "torch.remainder", "torch.fmod", "torch.floor_divide", "torch.isfinite", "torch.isnan", "torch.isinf",
    "torch.isclose", "torch.eq", "torch.ne", "torch.lt", "torch.le", "torch.gt", "torch.ge", "torch.logical_and",
    "torch.logical_or", "torch.logical_not", "torch.logical_xor", "torch.allclose", "torch.equal", "torch.lerp", "torch.addcmul",
    "torch.addcdiv", "torch.softmax", "torch.log_softmax", "torch.nn.functional.softmax",
    "torch.nn.functional.log_softmax",
    # reductions
    "torch.sum", "torch.mean", "torch.prod", "torch.max", "torch.min", "torch.amax", "torch.amin", "torch.argmax",
    "torch.argmin", "torch.aminmax", "torch.var", "torch.std", "torch.var_mean", "torch.std_mean", "torch.logsumexp", "torch.norm", "torch.cumsum", "torch.cumprod", "torch.all",
    "torch.any", "torch.count_nonzero", "torch.linalg.norm", "torch.linalg.vector_norm", "torch.sort", "torch.argsort", "torch.topk", "torch.bincount",
    # matrix products
    "torch.matmul", "torch.mm", "torch.bmm", "torch.mv", "torch.dot", "torch.outer", "torch.einsum",
    "torch.tensordot", "torch.addmm", "torch.addmv", "torch.baddbmm",
    # views, reshaping and indexing
    "torch.reshape", "torch.flatten", "torch.unflatten", "torch.squeeze", "torch.unsqueeze", "torch.permute",
    "torch.transpose", "torch.movedim", "torch.cat", "torch.concat", "torch.stack", "torch.split", "torch.chunk",
    "torch.unbind", "torch.narrow", "torch.flip", "torch.roll", "torch.gather", "torch.scatter",
    "torch.scatter_add", "torch.index_select", "torch.masked_select", "torch.nonzero", "torch.take_along_dim",
    "torch.broadcast_to", "torch.meshgrid", "torch.diagonal", "torch.tril", "torch.triu", "torch.repeat_interleave", "torch.tile",
    "torch.as_strided",
    # padding, and labels as one-hot rows
    "torch.nn.functional.pad", "torch.nn.functional.one_hot",
    # NumPy's constants and its math on numbers (an initialisation's bound), not its arrays' operations
    "numpy.sqrt", "numpy.prod", "numpy.exp", "numpy.log", "numpy.pi", "numpy.e", "numpy.inf", "numpy.float32",
    "numpy.float64", "numpy.int64", "numpy.isscalar",
})  # fmt: skip
# Modules that from-scratch code may import, and use without limit (their names end in .*).
PLAIN_PYTHON = ("abc", "math", "numbers", "typing", "dataclasses", "collections", "functools", "itertools", "copy",
                "enum", "random", "statistics", "time", "warnings")  # fmt: skip


@dataclass(frozen=True)
class FromScratch:
    """
    Code that a part asks for from scratch. ``scopes``: the top-level classes
    and functions of ``file`` it covers, with the module-level code they use
    (None: the whole module). ``allowed``: the qualified names it may use
    (``math.*`` for all of a module).
    """

    file: str
    scopes: tuple | None
    allowed: frozenset = field(repr=False)
    reason: str
    # The classes and functions the hidden tests grade one by one: code of one of them that another merely names
    # (MLP's table of activations) answers for its own tests, not for the other's.
    graded: tuple = ()

    def permits(self, name: str) -> bool:
        """Whether from-scratch code may use ``name`` (the closed-world rules still apply to plain Python's modules)."""
        patterns = [a for a in self.allowed if a.endswith(".*")] + [f"{m}.*" for m in PLAIN_PYTHON]
        return name in self.allowed or any(fnmatch.fnmatchcase(name, p) for p in patterns)


LAYER_RULE = FromScratch(
    "hw/layers.py", None, TENSOR_BASICS,
    "this part's layers compute their forward and backward passes themselves: tensor arithmetic, reductions, matrix "
    "products, views, indexing and padding only (no autograd, no PyTorch convolution, pooling or normalization)",
    graded=("LeakyReLU", "ReLU", "Sigmoid", "TanH", "Linear", "CrossEntropyLoss", "Dropout", "Sequential", "MLP",
            "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "BatchNorm2d"),
)  # fmt: skip
OPTIMIZER_RULE = FromScratch(
    "hw/optimizers.py", None, TENSOR_BASICS | {"torch.optim.Optimizer"},  # to tell torch's optimizers apart
    "the update rules are written by hand: tensor arithmetic only (no torch.optim, no autograd)",
)
OWN_MODULE_RULE = FromScratch(
    "hw/cnn.py", ("MyLinear", "MyConv2d"), TENSOR_BASICS | {"torch.nn.Module", "torch.nn.Parameter", "torch.nn.init.*"},
    "MyLinear and MyConv2d compute their output themselves: tensor arithmetic, matrix products, views and padding "
    "(not PyTorch's linear or convolution)",
    graded=("MyLinear", "MyConv2d"),
)  # fmt: skip
BOX_RULE = FromScratch(
    "hw/interpret.py", ("box_iou", "nms"), TENSOR_BASICS,
    "box_iou and nms are computed by your own code: tensor arithmetic, reductions, sorting and indexing (not "
    "torchvision's box operations)",
    graded=("box_iou", "nms"),
)
FROM_SCRATCH = (LAYER_RULE, OPTIMIZER_RULE, OWN_MODULE_RULE, BOX_RULE)


# -- findings -----------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One place where a module breaks a rule."""

    file: str  # "hw/layers.py"
    line: int
    message: str  # "imports ctypes, which homework code may not use"
    scope: str | None = None  # the top-level class, function or assignment it is in (None: module level)
    used_by: frozenset = frozenset()  # the top-level names whose code runs it (scope and what calls it)
    from_scratch: FromScratch | None = None  # the from-scratch rule it breaks (None: a closed-world rule)

    def describe(self) -> str:
        return f"{self.file}:{self.line} {self.message}"


def module_object(name: str):
    """
    The library module ``name`` (imported to resolve names), or None where it
    cannot be imported. Only the modules of MODULES and their packages are
    ever imported: the policy runs in the grader's process, and a module a
    submission merely names (``import this``) must not run there.
    """
    if name not in known_packages():
        return None
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a module that does not import is a module homework cannot use
        return None


@functools.cache
def known_packages() -> frozenset:
    """The modules of MODULES and every package above one (torch.nn.functional: torch, torch.nn)."""
    return frozenset(".".join(name.split(".")[: i + 1]) for name in MODULES for i in range(name.count(".") + 1))


def resolve(chain: str):
    """
    ``(module, rest)`` for a dotted name rooted at an import: the longest
    prefix of ``chain`` that is a module, and the names after it. Modules are
    found by importing the library, so ``torch.ops``, an object that is a
    module, counts as the module it is.
    """
    parts = chain.split(".")
    if parts[0] == "hw" and len(parts) > 1 and f"{parts[1]}.py" in STUDENT_FILES:
        return ".".join(parts[:2]), parts[2:]  # the submission's own module: never imported to check it
    module_name, obj = parts[0], module_object(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if obj is None or part.startswith("_"):
            return module_name, parts[i:]
        try:
            child = getattr(obj, part)
        except Exception:  # noqa: BLE001 - a name the library does not have (yet: a submodule not imported)
            child = module_object(".".join(parts[: i + 1]))
        if not isinstance(child, types.ModuleType):
            return module_name, parts[i:]
        module_name, obj = ".".join(parts[: i + 1]), child
    return module_name, []


def library_problem(chain: str, definitions=None, file=None) -> str | None:
    """
    Why homework code (in ``file``, e.g. "hw/cnn.py") may not use the dotted
    name ``chain`` (rooted at an import), or None. ``definitions``:
    {"hw.answers": names it defines} for the student modules, whose names may
    be used only where they are defined (not a module that answers.py
    imported and hands on).
    """
    module, rest = resolve(chain)
    for name in rest:
        if name in INTROSPECTION:
            return f"uses .{name} (the interpreter's frames and code, a property's functions, a class's bases), which homework code does not need"
        if name.startswith("_") and name not in NAMEDTUPLE_API | READABLE_DUNDERS:
            return f"uses {chain}, a private name of {module}"
    library = MODULES.get(module)
    if library is None:
        # A package some of whose modules are listed (hw): name the module of it that is not (hw.grid).
        unlisted = f"{module}.{rest[0]}" if rest and any(m.startswith(module + ".") for m in MODULES) else module
        return f"uses {unlisted}, which homework code may not use"
    if library.files is not None and file is not None and Path(file).name not in library.files:
        return f"uses {module}, which {file} may not use: {library.why_not_others}"
    if not rest:
        return None
    if module in STUDENT_MODULE_NAMES and file is not None:
        # What a file may not use, it may not use through another student module that may (a function of
        # training.py that hands cnn.py the data set).
        for name, other in MODULES.items():
            if other.not_through_others and Path(file).name not in other.files and f"{module[3:]}.py" in other.files:
                return f"uses {module}, which {file} may not use: {module} may use {name}, which {file} may not " \
                       f"({other.why_not_others})"  # fmt: skip
    if module in STUDENT_MODULE_NAMES:
        defined = (definitions or {}).get(module)
        if defined is not None and rest[0] not in defined:
            return f"uses {module}.{rest[0]}, which is not a function, class or constant that hw/{module[3:]}.py " \
                   "defines (student modules share code, not data: pass values as arguments; import a library's " \
                   "names from the library)"  # fmt: skip
        return None
    if f"{module}.{rest[0]}" in READ_ONLY and len(rest) > 1 and rest[1] not in READ_ONLY[f"{module}.{rest[0]}"]:
        return f"uses {chain}: homework code reads {module}.{rest[0]} ({', '.join(READ_ONLY[f'{module}.{rest[0]}'])}), " \
               "never changes it"  # fmt: skip
    if rest[0] in library.refused:
        return f"uses {library.refused[rest[0]]}, which homework code may not use"
    names = library.names()
    if names is not None and rest[0] not in names:
        shown = ", ".join(sorted(names)) if len(names) < 40 else "its functions on tensors, types and switches"
        return f"uses {module}.{rest[0]}, which homework code may not use (of {module} it may use: {shown})"
    return reexport_problem(module, rest[0], definitions, file)


# C modules that are a standard module's own code under another name.
HOME_ALIASES = {"posix": "os", "nt": "os", "posixpath": "os.path", "ntpath": "os.path", "genericpath": "os.path"}


def literal_prefix(name: ast.expr) -> str:
    """The literal text a computed string starts with: "avg_" of f"avg_{x}" or "avg_" + x ('' when none)."""
    if isinstance(name, ast.JoinedStr) and name.values:
        first = name.values[0]
        return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
    if isinstance(name, ast.BinOp) and isinstance(name.op, ast.Add):
        left = name.left
        return left.value if isinstance(left, ast.Constant) and isinstance(left.value, str) else literal_prefix(left)
    return ""


def public_prefix(name: ast.expr) -> bool:
    """
    Whether a computed attribute name can only be a public name the policy
    allows when written out: it starts with literal text that is not '_' and
    that no refused name (a frame's attribute, a hook's registration, ...)
    starts with.
    """
    prefix = literal_prefix(name)
    if not prefix or prefix.startswith("_"):
        return False
    exact = INTROSPECTION | ARGUMENT_PARSING | {"grad_fn"}
    return not any(refused.startswith(prefix) for refused in exact) \
        and not any(family.startswith(prefix) or prefix.startswith(family) for family in REFUSED_FAMILIES)  # fmt: skip


def home_package(name: str) -> str:
    """The package a module's code belongs to: heapq for _heapq, os for posix."""
    top = name.split(".")[0]
    return HOME_ALIASES.get(top, top.lstrip("_"))


def reexport_problem(module: str, name: str, definitions=None, file=None) -> str | None:
    """
    A name is what it is, not where it is reachable from: a function or
    class that a module merely re-exports from another package
    (torch.optim.lr_scheduler.wraps is functools.wraps) obeys the rules of
    the package that defines it.
    """
    host, obj = module_object(module), library_object(f"{module}.{name}")
    home = getattr(obj, "__module__", None) if callable(obj) else None
    if host is None or not isinstance(home, str) or home_package(home) == home_package(host.__name__):
        return None
    qualname = getattr(obj, "__qualname__", name)
    real = f"{HOME_ALIASES.get(home, home.lstrip('_'))}.{qualname}"
    problem = library_problem(real, definitions, file) if home_package(home) in {m.split(".")[0] for m in MODULES} else \
        f"uses {real}, which homework code may not use"  # fmt: skip
    if not problem:
        return None
    said = problem[len(f"uses {real}"):] if problem.startswith(f"uses {real}") else f": {problem}"
    return f"uses {module}.{name} (that is, {real}){said}"


# -- reading a module ---------------------------------------------------------


def library_object(chain: str):
    """The object a dotted library name stands for (``torch.nn.Module``), or None."""
    module, rest = resolve(chain)
    obj = module_object(module)
    for name in rest:
        obj = getattr(obj, name, None)
    return obj


def base_problem(chain: str) -> str | None:
    """Why homework classes may not extend the library class ``chain``, or None."""
    obj = library_object(chain)
    allowed = [library_object(name) for name in LIBRARY_BASES]
    if obj is not None and any(obj is a for a in allowed):
        return None
    if isinstance(obj, type) and any(isinstance(a, type) and issubclass(obj, a) for a in allowed):
        tensor = library_object("torch.Tensor")
        if not (isinstance(tensor, type) and issubclass(obj, tensor)):
            return None
    return f"extends {chain}: homework classes extend their own classes or {', '.join(LIBRARY_BASES)}"


def dotted(node):
    """('torch', 'torch.nn.functional.conv2d') for an attribute chain on a name; (None, None) otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
            and len(node.args) == 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
        root, chain = dotted(node.args[0])  # getattr(torch, "conv2d") is torch.conv2d
        return (root, f"{chain}.{node.args[1].value}.{'.'.join(reversed(parts))}".rstrip(".")) if root else (None, None)
    if not isinstance(node, ast.Name):
        return None, None
    return node.id, ".".join([node.id, *reversed(parts)])


def root_of(node):
    """The expression an attribute or item chain starts from: ``model`` for ``model.fc.weight[0]``."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node


def module_level_stores(statement):
    """
    The names a top-level statement binds at module scope, however: assignments, ``for`` and ``with`` targets,
    walrus and ``match`` captures, and names a function declares ``global`` (imports are not code: what is used of
    them is checked where it is used).
    """
    names = [statement.name] if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else []

    def visit(node, in_function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            declared = {n for child in ast.walk(node) if isinstance(child, ast.Global) for n in child.names}
            names.extend(sorted(declared))
            for child in ast.iter_child_nodes(node):
                visit(child, True)
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)) and not in_function:
            for child in ast.iter_child_nodes(node):  # a comprehension's own variables are its own; := leaks out
                visit(child, True) if not isinstance(child, ast.comprehension) else None
            names.extend(n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
            return
        if not in_function:
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.append(node.id)
            elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
                names.append(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                names.append(node.rest)
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(statement, False)
    return list(dict.fromkeys(names))


def top_level_scopes(tree):
    """
    ``(bindings, owner)``: every name bound at module scope -> the top-level
    statements that bind it; every node's id -> the name of the top-level
    statement it belongs to (its first bound name; None for one that binds none).
    """
    bindings, owner = {}, {}
    for statement in tree.body:
        names = module_level_stores(statement)
        for name in names:
            bindings.setdefault(name, []).append(statement)
        for node in ast.walk(statement):
            owner.setdefault(id(node), names[0] if names else None)
    return bindings, owner


def rebound_names(function):
    """The names a function's body (not its nested functions) binds again: ``self = other``, ``for self in ...``."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg) and node not in (*function.args.posonlyargs, *function.args.args,
                                                          *function.args.kwonlyargs, function.args.vararg,
                                                          function.args.kwarg):  # fmt: skip
            names.add(node.arg)  # a nested function's or lambda's parameter of the same name
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)  # case self: binds self to the subject
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


CONSTRUCTIONS = (ast.Call, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp,
                 ast.GeneratorExp, ast.Constant, ast.JoinedStr, ast.BinOp)


def made_names(body, arguments=None):
    """
    The names a function body (or the module's top level) binds only to
    objects it creates there (``layer = Linear(3, 4)``, ``cache = {}``), each
    with the expression that made it: never a parameter, a loop variable or an
    alias of something else.
    """
    made, other = {}, {a.arg for a in ast.walk(arguments) if isinstance(a, ast.arg)} if arguments else set()
    assignment_targets = set()
    for statement in body:
        for node in walk_without_functions(statement):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                single = len(targets) == 1 and isinstance(targets[0], ast.Name)
                for name in assigned_names(targets):
                    assignment_targets.add(id(name))
                    if single and isinstance(node.value, CONSTRUCTIONS) and name.id not in made:
                        made[name.id] = node.value
                    else:
                        other.add(name.id)
    for statement in body:
        for node in walk_without_functions(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and id(node) not in assignment_targets:
                other.add(node.id)  # for-targets, with-as, walrus, augmented assignment
    return {name: value for name, value in made.items() if name not in other}


def walk_without_functions(node):
    """ast.walk that does not enter nested functions, lambdas or classes."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            yield from walk_without_functions(child)


def assigned_names(targets):
    """The names an assignment binds (``a, b = ...``), not those inside its attribute or item targets."""
    for target in targets:
        if isinstance(target, ast.Name):
            yield target
        elif isinstance(target, (ast.Tuple, ast.List)):
            yield from assigned_names(target.elts)
        elif isinstance(target, ast.Starred):
            yield from assigned_names([target.value])


class StatementIndex:
    """
    A module's top-level statements, read once: the names each reads or
    writes anywhere inside, the names it binds at module scope, its bases (a
    class's), and the statements that name each name. ``closure`` is a walk
    over these tables, never over the syntax again: its cost grows with the
    module, not with the module times its statements.
    """

    def __init__(self, statements):
        self.names = {id(s): {n.id for n in ast.walk(s) if isinstance(n, ast.Name)} for s in statements}
        self.stores = {id(s): module_level_stores(s) for s in statements}
        self.bases = {id(s): {b.id for b in getattr(s, "bases", []) if isinstance(b, ast.Name)} for s in statements}
        self.naming = {}
        for statement in statements:
            for name in self.names[id(statement)]:
                self.naming.setdefault(name, []).append(statement)


class Dependencies:
    """
    Which top-level names the code of each top-level name runs, in one step:
    every top-level definition or binding it uses, except a graded class or
    function (FromScratch.graded) that is only named, not a base class (its
    own tests answer for it). Data follows its writers: a module-level value
    the code reads (a dict of kernels) brings in every top-level statement that
    names it, the functions that fill it and the bare statements that run them
    (None stands for those, which bind no name). Built once from the module's
    StatementIndex; ``closure`` and ``users`` walk it forwards and backwards.
    """

    def __init__(self, bindings, graded, index: StatementIndex):
        self.edges = {}
        for name, statements in bindings.items():
            out = set()
            for statement in statements:
                # The statement's code belongs to its first name (a function that sets a global is the function's).
                out.update(index.stores[id(statement)][:1])
                bases = index.bases[id(statement)]
                out.update(n for n in index.names[id(statement)] if n in bindings and (n not in graded or n in bases))
            if name is not None and any(not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                                        for s in statements):  # fmt: skip
                for statement in index.naming.get(name, []):
                    writer = (index.stores[id(statement)] or [None])[0]
                    if writer is None:  # a bare statement (fill_kernels()): its code, and what it runs, are covered
                        out.add(None)
                        out.update(n for n in index.names[id(statement)] if n in bindings and n not in graded)
                    elif writer not in graded:
                        out.add(writer)
            out.discard(name)
            self.edges[name] = out
        self.reverse = {}
        for name, out in self.edges.items():
            for used in out:
                self.reverse.setdefault(used, set()).add(name)

    def closure(self, start) -> set:
        """The top-level names whose code the definitions named in ``start`` run (themselves included)."""
        return self._walk([name for name in start if name in self.edges], self.edges)

    def users(self, name) -> set:
        """The top-level names whose code runs the code of ``name`` (itself included, if it is a top-level name)."""
        found = self._walk([name], self.reverse)
        return {n for n in found if n in self.edges}

    @staticmethod
    def _walk(start, edges) -> set:
        seen, todo = set(), list(start)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo += [n for n in edges.get(name, ()) if n not in seen]
        return seen


class Reader(ast.NodeVisitor):
    """Walks one module and collects every Finding."""

    def __init__(self, file, tree, rules, definitions=None, methods=None):
        self.file = file
        self.definitions = definitions
        self.methods = methods  # {"hw.layers.Linear": its method names} for the other student modules' classes
        self.findings = []
        self.imports = {}  # name bound by an import -> the dotted name it stands for (bound_by_imports)
        self.derived = set()  # names assigned something that came from an import
        self.rules = rules  # the FromScratch rules of this file
        self.bindings, self.owner = top_level_scopes(tree)
        # For each scoped rule, the top-level names whose code it covers.
        self.statement_index = StatementIndex(tree.body)
        self.covered = {rule: Dependencies(self.bindings, rule.graded, self.statement_index).closure(rule.scopes)
                        if rule.scopes else None for rule in rules}  # fmt: skip
        self.class_depth = 0
        self.class_stack = []  # the classes whose bodies are being read
        self.class_of_cls = {}  # a classmethod's first parameter -> its class (a name is enough: they are rare)
        self.method_self = []  # per function: the names that are its self

    # -- recording ------------------------------------------------------------

    def flag(self, node, message):
        scope = self.owner.get(id(node))
        self.findings.append(Finding(self.file, getattr(node, "lineno", 0), message, scope))

    def scratch_rules(self, node):
        """The from-scratch rules that cover the code of ``node`` (none under ``if __name__ == "__main__":``, never graded)."""
        if id(node) in self.main_only:
            return []
        scope = self.owner.get(id(node))
        return [r for r in self.rules if self.covered[r] is None or scope in self.covered[r]]

    def refuse(self, node, rule, message):
        scope = self.owner.get(id(node))
        self.findings.append(Finding(self.file, getattr(node, "lineno", 0), message, scope, from_scratch=rule))

    def is_self(self, node):
        """
        Whether ``node`` is the object a method runs on: its first parameter
        (self or cls) where nothing rebinds it, or ``super()`` (without
        arguments, or as ``super(ThisClass, self)``). Calling a method with
        another object as self is refused (visit_Call), so self is the code's own.
        """
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super":
            return not node.args or (len(node.args) == 2 and isinstance(node.args[0], ast.Name) and self.is_self(node.args[1]))
        return isinstance(node, ast.Name) and bool(self.method_self) and node.id in self.method_self[-1]

    def keeps_self(self, decorator) -> bool:
        """
        Whether a method under ``decorator`` still runs on the object it is
        called on: the built-in and library decorators of METHOD_DECORATORS
        by their own names, and ``<a property>.setter`` of the same class; not
        a decorator of the homework's, which could keep the bare function.
        """
        if isinstance(decorator, ast.Call):
            root, chain = dotted(decorator.func)
            full = self.imports[root] + chain[len(root):] if root in self.imports else None
            if full in CACHING_DECORATORS:  # functools.lru_cache(maxsize=...): a cache in front of the method
                return True
            # torch.no_grad(): a context manager that wraps the method as it is
            return not decorator.args and not decorator.keywords and full in GRAD_MODE_DECORATORS
        root, chain = dotted(decorator)
        if root is None:
            return False
        if chain in ("property", "classmethod", "staticmethod", "abstractmethod", "cached_property"):
            return root not in self.bindings and root not in self.imports or self.imports.get(root, "").endswith(chain)
        if root in self.imports:
            return self.imports[root] + chain[len(root):] in ("abc.abstractmethod", "functools.cached_property", *CACHING_DECORATORS)
        parts = chain.split(".")
        return len(parts) == 2 and parts[1] in ("setter", "getter", "deleter") and parts[0] in self.property_names

    @staticmethod
    def is_classmethod(node) -> bool:
        return any(isinstance(d, ast.Name) and d.id == "classmethod" for d in node.decorator_list)

    def is_instance_self(self, node):
        """``self`` itself (or super()): not ``cls``, the class a classmethod runs on, whose changes every instance sees."""
        return self.is_self(node) and not (isinstance(node, ast.Name) and node.id == "cls")

    def check_attribute_name(self, node, obj, attr, how=""):
        """The rules for an attribute's name, written as ``obj.attr`` or given to getattr and its kin as a literal."""
        if attr in INTROSPECTION:
            self.flag(node, f"uses {how}.{attr} (the interpreter's frames and code, a property's functions, a class's bases), which homework code does not need")
        elif attr == "__class__" and how == "" and (self.reads_a_name_or_compares(node)
                                                    or self.is_instance_self(obj) and self.is_called(node)):
            return  # x.__class__ is type(x), under type()'s rule: its name read, compared, or type(self) called
        elif attr == "__dict__" and how == "" and self.is_instance_self(obj):
            return  # self.__dict__ is vars(self), allowed on self
        elif attr.startswith("__") and attr not in READABLE_DUNDERS:
            # On self too: a dunder reaches the interpreter (self.__dict__, __builtins__), and super()'s __init__ is a call.
            on_super_init = attr in CLASS_DUNDERS and isinstance(obj, ast.Call) and self.is_self(obj)
            if not on_super_init:
                self.flag(node, f"uses {how}.{attr}, a special attribute of the interpreter")
        elif attr.startswith("_") and attr not in NAMEDTUPLE_API | READABLE_DUNDERS and not self.is_self(obj):
            self.flag(node, f"uses {how}the private attribute .{attr} of something other than self")

    def is_method_reference(self, node):
        """Whether ``node`` is ``Class.method`` for a class of the submission's own (this module's or another's)."""
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            return False
        name = node.value.id
        if name in self.own_methods:
            return node.attr in self.own_methods[name]
        enclosing = self.class_of_cls.get(name)  # a classmethod's first parameter is its class
        if enclosing in self.own_methods:
            return node.attr in self.own_methods[enclosing]
        imported = self.imports.get(name, "")
        return imported in (self.methods or {}) and node.attr in self.methods[imported]

    def imported_chain(self, node) -> str | None:
        """The dotted name an attribute chain rooted at an import stands for (``plt.rcParams``: matplotlib.pyplot.rcParams)."""
        root, chain = dotted(node)
        return self.imports[root] + chain[len(root):] if root in self.imports else None

    def from_import(self, node):
        """Whether an expression is (part of) something imported: a library's module, class, function or object."""
        while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "type":  # type(x) is a class, maybe a library's
                return True
            return node.func.id == "getattr" and bool(node.args) and self.from_import(node.args[0])
        return isinstance(node, ast.Name) and (node.id in self.imports or node.id in self.derived)

    # -- imports ----------------------------------------------------------------

    def use_library(self, node, chain):
        """A name or attribute chain that stands for something imported, used as a whole (not inside a longer chain)."""
        problem = library_problem(chain, self.definitions, self.file)
        if problem:
            self.flag(node, problem)
        elif chain in UNPICKLING_FUNCTIONS and not (self.is_called(node) and not isinstance(node, ast.Call)):
            self.flag(node, f"takes {chain} as a value: call {chain}(...) where you name it (its keywords are "
                            "checked in that call, they decide whether it can run code from a file)")  # fmt: skip
        elif not resolve(chain)[1]:
            # A module handed around (m = torch; [np][0]) could reach what the module rules refuse.
            self.flag(node, f"passes the module {chain} around as a value (use its names directly, e.g. {chain}.something)")
        for rule in self.scratch_rules(node):
            if not rule.permits(chain) and not any(chain == m or chain.startswith(m + ".") for m in PLAIN_PYTHON):
                self.refuse(node, rule, f"uses {chain}: {rule.reason}")

    def visit_Import(self, node):
        for alias in node.names:  # the names it binds are known before the module is read (bound_by_imports)
            self.check_import(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level:
            self.flag(node, "uses a relative import: write from hw.<module> import ... instead")
            return
        for alias in node.names:
            if alias.name == "*":
                self.flag(node, f"imports * from {node.module}: name what you import")
                continue
            chain = f"{node.module}.{alias.name}"
            problem = library_problem(chain, self.definitions, self.file)  # `from torch.utils import data`: torch.utils.data
            if problem:
                self.flag(node, problem.replace("uses", "imports", 1))

    def bound_by_imports(self, tree) -> dict:
        """
        {name: the dotted name it stands for} for every import in the module,
        known before any code is read: a function may use a name that an import
        further down binds. A name that two imports bind to different things is
        flagged (which one a function sees depends on the order the code runs).
        """
        bound = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                pairs = [(a.asname, a.name) if a.asname else (a.name.split(".")[0],) * 2 for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                pairs = [(a.asname or a.name, f"{node.module}.{a.name}") for a in node.names if a.name != "*"]
            else:
                continue
            for name, chain in pairs:
                if bound.setdefault(name, chain) != chain:
                    self.flag(node, f"imports two different things as {name} ({bound[name]} and {chain}): give each "
                                    "its own name")  # fmt: skip
        return bound

    def check_import(self, node, module):
        if module not in MODULES:
            self.flag(node, f"imports {module}, which homework code may not use")

    # -- definitions ------------------------------------------------------------

    def visit_ClassDef(self, node):
        self.check_header(node)
        for keyword in node.keywords:
            if keyword.arg == "metaclass":
                self.flag(node, f"gives class {node.name} a metaclass")
        for base in node.bases:
            self.check_base(node, base)
        self.class_depth += 1
        self.class_stack.append(node.name)
        self.generic_visit(node)
        self.class_stack.pop()
        self.class_depth -= 1

    def check_embedded_data(self, tree):
        """Code, not data: a module does not carry thousands of numbers, huge numbers or long texts (weights trained elsewhere)."""
        numbers = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, (int, float, complex))]
        if len(numbers) > MAX_NUMBERS:
            self.flag(numbers[MAX_NUMBERS], f"writes out {len(numbers)} numbers, True and False included (at most "
                                            f"{MAX_NUMBERS}): data of that size is not homework code (a network "
                                            "learns its weights in training)")  # fmt: skip
        for node in numbers:
            if isinstance(node.value, int) and node.value.bit_length() > MAX_INT_BITS:
                self.flag(node, f"writes out a number of {node.value.bit_length()} bits (at most {MAX_INT_BITS}): data "
                                "of that size is not homework code")  # fmt: skip
                break
        if Path(self.file).name == "answers.py":
            return  # the written answers are text for the staff, and no module may import them
        texts = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes))
                 and not self.is_docstring(n)]  # fmt: skip
        texts.sort(key=lambda n: (n.lineno, n.col_offset))
        sizes = [len(n.value.encode("utf-8", "surrogatepass") if isinstance(n.value, str) else n.value) for n in texts]
        over = next((n for n, total in zip(texts, itertools.accumulate(sizes)) if total > MAX_TEXT_BYTES), None)
        if over is not None:  # flagged where the module passes the limit
            self.flag(over, f"writes out {sum(sizes):,} bytes of strings besides its docstrings (at most "
                            f"{MAX_TEXT_BYTES:,} in one module): data of that size is not homework code")  # fmt: skip

    def is_docstring(self, node) -> bool:
        expression = self.parents.get(id(node))
        owner = self.parents.get(id(expression))
        return isinstance(expression, ast.Expr) and isinstance(owner, (ast.Module, ast.ClassDef, ast.FunctionDef)) \
            and owner.body and owner.body[0] is expression  # fmt: skip

    def check_graded_definitions(self, tree):
        """A class or function a from-scratch rule grades is defined in its file by its own class or def, and only so."""
        imported = imported_names(tree)
        for rule in self.rules:
            for name in rule.graded:
                others = [s for s in self.bindings.get(name, []) if not (isinstance(s, (ast.ClassDef, ast.FunctionDef))
                                                                         and s.name == name)]  # fmt: skip
                others += [imported[name]] if name in imported else []
                for statement in others:
                    self.findings.append(Finding(self.file, statement.lineno, f"binds {name} other than by its own class "
                                                 f"or def statement: {name} is graded as the code written in {rule.file}",
                                                 name, from_scratch=rule))  # fmt: skip

    def check_base(self, node, base):
        """A class extends a class of this module, of another student module, a built-in class or LIBRARY_BASES."""
        root, chain = dotted(base)
        if root is None:
            self.flag(node, f"gives class {node.name} the base {ast.unparse(base)[:80]}, which is not a class's name")
        elif root in self.imports:
            full = self.imports[root] + chain[len(root):]
            if resolve(full)[0] not in STUDENT_MODULE_NAMES and base_problem(full):
                self.flag(node, f"class {node.name} {base_problem(full)}")
        elif chain in self.class_names:
            return
        elif chain == root and root not in self.bindings and isinstance(getattr(builtins, root, None), type):
            if root == "type":
                self.flag(node, f"gives class {node.name} the base type (a metaclass)")
        else:
            self.flag(node, f"gives class {node.name} the base {chain}, which is not a class this module defines")

    def visit_FunctionDef(self, node):
        self.check_header(node)
        for rule in self.scratch_rules(node):
            self.check_parameters_kept(node, rule)
        if node.name.startswith("__") and node.name not in CLASS_DUNDERS:
            self.flag(node, f"defines {node.name}, which homework classes do not define (they may define "
                            f"{', '.join(sorted(CLASS_DUNDERS))})")  # fmt: skip
        arguments = node.args.posonlyargs + node.args.args
        known = all(self.keeps_self(d) for d in node.decorator_list)
        if self.class_depth > 0 and arguments and known:
            # A classmethod's first parameter is the class, shared by every instance: never the object's own self.
            # A static method's "self" is whatever it was called with: a name is not enough.
            own = {arguments[0].arg} & ({"self"} if not is_unbound(node) else set())
        else:  # a function inside a method still sees the method's self, unless it takes a parameter of that name
            enclosing = self.method_self[-1] if self.method_self else set()
            own = enclosing - {a.arg for a in arguments + node.args.kwonlyargs}
        own -= rebound_names(node)
        if self.class_depth > 0 and arguments and self.is_classmethod(node) and self.class_stack:
            self.class_of_cls[arguments[0].arg] = self.class_stack[-1]
        self.method_self.append(own)
        self.made.append(made_names(node.body, node.args))
        depth, self.class_depth = self.class_depth, 0  # a class inside a function body is its own
        self.generic_visit(node)
        self.class_depth = depth
        self.method_self.pop()
        self.made.pop()

    def check_parameters_kept(self, function, rule):
        """
        Code a from-scratch rule covers stores no parameter of its functions in
        module-level data (``KERNELS[name] = function``, ``TABLE.update(...)``):
        its callers may be anywhere (another module), which the rule does not
        read, and what they pass would become code the rule's scope runs.
        """
        data = {name for name, statements in self.bindings.items() if name is not None and
                any(not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for s in statements)}  # fmt: skip
        data -= rebound_names(function)  # its own local of that name
        declared = {n for child in ast.walk(function) if isinstance(child, ast.Global) for n in child.names}
        arguments = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
        parameters = {a.arg for a in arguments} | {a.arg for a in (function.args.vararg, function.args.kwarg) if a}
        for node in ast.walk(function):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                # x[k] = v and x.a = v change module data x; a plain x = v does only where x is declared global
                stores = [(root_of(t), [node.value]) for t in targets if not isinstance(t, ast.Name) or t.id in declared]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                stores = [(root_of(node.func.value), [*node.args, *(k.value for k in node.keywords)])]
            else:
                continue
            for root, values in stores:
                if not (isinstance(root, ast.Name) and root.id in data | declared):
                    continue
                passed = sorted({n.id for v in values for n in ast.walk(v) if isinstance(n, ast.Name)} & parameters)
                if passed:
                    self.refuse(node, rule, f"stores its parameter {passed[0]} in {root.id}, data of the module that "
                                            f"code under this rule reads ({rule.reason}): what callers elsewhere pass "
                                            f"would become code it runs; fill {root.id} where it is defined")  # fmt: skip

    def check_header(self, node):
        """
        No := in a header (a function's or lambda's defaults, a decorator, an
        annotation, a class's bases): it binds a module name there, outside the
        scope a from-scratch rule reads.
        """
        parts = [*getattr(node, "decorator_list", []), *getattr(node, "bases", []),
                 *(k.value for k in getattr(node, "keywords", []))]  # fmt: skip
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            parts += [*node.args.defaults, *node.args.kw_defaults]
        if isinstance(node, ast.FunctionDef):
            parts += [node.returns, *(a.annotation for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs)]
        for part in parts:
            if part is not None and any(isinstance(n, ast.NamedExpr) for n in ast.walk(part)):
                self.flag(part, "uses := in a header (a default, a decorator, an annotation, a base): bind the name in "
                                "a statement of its own")  # fmt: skip
                return

    def visit_Lambda(self, node):
        self.check_header(node)
        enclosing = self.method_self[-1] if self.method_self else set()
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        self.method_self.append(enclosing - {a.arg for a in arguments})
        self.generic_visit(node)
        self.method_self.pop()

    def generic_visit(self, node):
        kind = type(node).__name__
        if kind not in ALLOWED_SYNTAX:
            what = SYNTAX_NAMES.get(kind, f"the syntax {kind}")
            self.flag(node, f"uses {what}, which homework code does not need")
        super().generic_visit(node)

    # -- names and attributes -----------------------------------------------------

    def visit_Name(self, node):
        name = node.id
        if name.startswith("__") and not self.module_dunder(node):
            self.flag(node, f"uses the name {name}")
        elif name in self.imports and isinstance(node.ctx, ast.Load) and id(node) not in self.chain_roots:
            self.use_library(node, self.imports[name])  # a name imported from a module, or a module on its own

    def module_dunder(self, node) -> bool:
        """A module's own special names that code may use: ``__name__`` and ``__file__`` read, ``__all__`` written at the top."""
        if isinstance(node.ctx, ast.Load):
            return node.id in MODULE_DUNDERS
        return node.id == "__all__" and self.owner.get(id(node)) == "__all__" and not self.method_self

    def base_init(self, node) -> bool:
        """``Base.__init__(self, ...)`` for a library base class (torch.nn.Module): what super().__init__() does."""
        parent = self.parents.get(id(node))
        root, chain = dotted(node.value)
        if not (node.attr == "__init__" and isinstance(parent, ast.Call) and parent.func is node and parent.args
                and self.is_instance_self(parent.args[0])):  # fmt: skip
            return False
        if root in self.imports:
            return base_problem(self.imports[root] + chain[len(root):]) is None
        own = self.bindings.get(root, [])  # a class of this module, bound by its class statement alone
        return chain == root and bool(own) and all(isinstance(st, ast.ClassDef) and st.name == root for st in own)

    def visit_Attribute(self, node):
        if self.base_init(node):
            self.visit(node.value)  # the class is used as any imported name is
            return
        if node.attr in ARGUMENT_PARSING and not self.is_called(node):
            self.flag(node, f"takes .{node.attr} as a value (call it, without a namespace of its own)")
        if (node.attr.startswith("register_") and node.attr not in REGISTERS_STATE or node.attr == "grad_fn") \
                and Path(self.file).name not in HOOK_FILES:  # fmt: skip
            self.flag(node, f"uses .{node.attr}: hooks are for {', '.join(HOOK_FILES)} (a network learns from the "
                            "optimizer alone, and a hook would show it the gradient of the loss, and so the labels)")  # fmt: skip
        root, chain = dotted(node)
        if id(node) in self.chain_parts:
            self.generic_visit(node)
            return
        if root in self.imports:
            if isinstance(node.ctx, ast.Load):  # a store or deletion is check_target's
                self.use_library(node, self.imports[root] + chain[len(root):])
            inner = node.value  # the rest of the chain is checked with it
            while isinstance(inner, ast.Attribute):
                self.chain_parts.add(id(inner))
                inner = inner.value
            if isinstance(inner, ast.Name):
                self.chain_roots.add(id(inner))
        else:
            self.check_attribute_name(node, node.value, node.attr)
            if node.attr in ("format", "format_map") and not isinstance(node.value, ast.Constant):
                self.flag(node, f"uses .{node.attr} on a string that is not written out (write an f-string)")
        self.generic_visit(node)

    # -- calls --------------------------------------------------------------------

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name):
            self.callees.add(id(func))
            self.builtin_call(node, func.id)
        for keyword in node.keywords:
            if keyword.arg in CALLER_KEYWORDS:
                # logging's stack_info writes out the whole call stack, warnings' stacklevel names a caller's file
                # and line: the grader's code, which called the submission's.
                self.flag(node, f"calls {ast.unparse(func)} with {keyword.arg}=..., which reports the code that "
                                "called yours (the grader's)")  # fmt: skip
        if isinstance(func, ast.Attribute) and func.attr in ("format", "format_map") \
                and isinstance(func.value, ast.Constant) and isinstance(func.value.value, str):  # fmt: skip
            self.format_fields(node, func.value.value)
        if isinstance(func, ast.Attribute) and func.attr in ARGUMENT_PARSING \
                and (len(node.args) > 1 or any(k.arg in ("namespace", None) for k in node.keywords)):  # fmt: skip
            self.flag(node, f"gives .{func.attr}() a namespace of its own (it would set attributes on any object)")
        root, chain = dotted(func)
        if self.is_method_reference(func):
            self.method_calls.add(id(func))
            if not (node.args and self.is_self(node.args[0])):
                self.flag(node, f"calls {ast.unparse(func)} with another object than self as self")
        if root in self.imports:
            full = self.imports[root] + chain[len(root):]
            if full in {function for function, _ in UNPICKLING_KEYWORDS} and len(node.args) > 1:
                self.flag(node, f"passes {full} more than the file positionally (give the other arguments by name)")
            for (function, keyword), safe in UNPICKLING_KEYWORDS.items():
                for given in node.keywords:
                    unsafe = not (isinstance(given.value, ast.Constant) and given.value.value in safe)
                    if full == function and given.arg == keyword and unsafe:
                        self.flag(node, f"calls {function} with {keyword}=..., which can run code from a file")
                    elif full == function and given.arg is None:
                        self.flag(node, f"calls {function} with **keywords")
            if full in BACKEND_SWITCHES:
                chosen = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg != "force"), None)
                if not (isinstance(chosen, ast.Constant) and isinstance(chosen.value, str) and chosen.value.lower() in BACKENDS):
                    self.flag(node, f"calls {full} with a backend that is not one of {', '.join(sorted(BACKENDS))} "
                                    "(written out)")  # fmt: skip
        self.generic_visit(node)

    def builtin_call(self, node, name):
        args = node.args
        if name in REFLECTION:
            # A computed name only to set an attribute of self (the provided Layer.double and Optimizer.load_state_dict
            # do): read with a computed name, self's methods would hand out any object's attributes.
            on_self = bool(args) and self.is_instance_self(args[0])
            # Read with a public prefix (getattr(self, f"avg_{name}")): only self's attributes of that name, never a
            # dunder or a private one, whatever the rest of the name is.
            target_is_self = on_self and (name == "setattr" or (len(args) >= 2 and public_prefix(args[1])))
            literal = len(args) >= 2 and isinstance(args[1], ast.Constant) and isinstance(args[1].value, str)
            if not target_is_self and not literal:
                self.flag(node, f"calls {name}() with a computed attribute name")
            elif literal:
                self.check_attribute_name(node, args[0], args[1].value, how=f"{name}() of ")
                self.literal_library_attribute(node, args[0], args[1].value)
            if name in ("setattr", "delattr") and args:
                self.check_store(node, args[0], args[1].value if literal else None, f"calls {name}() on")
        elif name == "vars":
            # Of an instance only: vars(cls) holds the class's functions, which called directly take any object as
            # their self (and vars of that object its private attributes).
            if not (len(args) == 1 and (self.is_instance_self(args[0]) or self.is_parsed_namespace(args[0]))):
                self.flag(node, "calls vars() on something other than self (or the namespace parse_args returned)")
        elif name == "type":
            if len(args) != 1:
                self.flag(node, "calls type() to make a class")
            elif not (self.is_instance_self(args[0]) and self.is_called(node)) and not self.reads_a_name_or_compares(node):
                # type(x) is x's class, and type(a class) the metaclass that makes classes: only its name is read
                self.flag(node, "uses type() other than to read a class's name, to compare classes or to call type(self) "
                                "(use isinstance)")  # fmt: skip
        elif name in DYNAMIC_CODE:
            self.flag(node, f"calls {DYNAMIC_CODE[name]}, which runs or reaches code the homework does not show")

    def literal_library_attribute(self, node, obj, attr):
        """``getattr(F, "conv2d")`` is ``F.conv2d``: checked as that name, the module in it not passed around."""
        root, chain = dotted(obj)
        if root not in self.imports:
            return
        self.use_library(node, f"{self.imports[root]}{chain[len(root):]}.{attr}")
        inner = obj
        while isinstance(inner, ast.Attribute):
            self.chain_parts.add(id(inner))
            inner = inner.value
        self.chain_roots.add(id(inner))

    def is_parsed_namespace(self, node) -> bool:
        """Whether ``node`` names what ``parser.parse_args(...)`` returned in this function (argparse's own Namespace)."""
        value = self.made[-1].get(node.id) if isinstance(node, ast.Name) and self.made else None
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "parse_args"

    def makes_new_object(self, value) -> bool:
        """
        Whether ``value`` makes a new object: a literal or a call of a class
        (of this module, of another student module or of a library), not a
        call that may hand back something that exists (``next``, ``dict.get``).
        """
        if not isinstance(value, ast.Call):
            return True
        root, chain = dotted(value.func)
        if root is None:
            return False
        if chain in self.class_names:
            return True
        if root not in self.imports:
            return False
        full = self.imports[root] + chain[len(root):]
        module, rest = resolve(full)
        if module in STUDENT_MODULE_NAMES:
            return f"{module}.{'.'.join(rest)}" in (self.methods or {})  # a class the other module defines
        return isinstance(library_object(full), type)

    def is_called(self, node) -> bool:
        """Whether ``node`` is called right away (``type(self)(...)``), not kept or read for its attributes."""
        parent = self.parents.get(id(node))
        return isinstance(parent, ast.Call) and parent.func is node

    def reads_a_name_or_compares(self, node) -> bool:
        """
        Whether the value of ``node`` is only read for its name (``.__name__``),
        compared (``==``, ``is``) or made text (``print(type(x))``, an f-string's
        field): what is done with it then is done with a string.
        """
        parent = self.parents.get(id(node))
        if isinstance(parent, ast.Attribute) and parent.attr in READABLE_DUNDERS:
            return True
        if isinstance(parent, ast.FormattedValue) and parent.value is node:
            return True
        if isinstance(parent, ast.Call) and node in parent.args and isinstance(parent.func, ast.Name) \
                and parent.func.id in TEXT_MAKERS and parent.func.id not in self.bindings:  # fmt: skip
            return True
        return isinstance(parent, ast.Compare) and all(isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot))
                                                       for op in parent.ops)  # fmt: skip

    def format_fields(self, node, text):
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f]
        except ValueError:
            return
        if any("." in f or "[" in f for f in fields):
            self.flag(node, "formats a string with a field that reads an attribute or item")

    # -- changes to what was imported ---------------------------------------------

    def visit_Assign(self, node):
        for target in node.targets:
            self.check_target(node, target, "assigns to")
        self.track_aliases(node.targets, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self.check_target(node, node.target, "assigns to")
        if node.value is not None:
            self.track_aliases([node.target], node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.check_target(node, node.target, "assigns to")
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self.check_target(node, target, "deletes")
        self.generic_visit(node)

    def check_target(self, node, target, how):
        for element in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
            if isinstance(element, ast.Starred):
                element = element.value
            if isinstance(element, ast.Attribute):
                self.check_store(node, element.value, element.attr, how)
            elif isinstance(element, ast.Subscript) and self.from_import(element.value):
                settable = how == "assigns to" and self.imported_chain(element.value) in SETTABLE_LIBRARY_ITEMS
                key = element.slice
                if not settable:
                    self.flag(node, f"{how} something imported (homework code changes no library)")
                elif not (isinstance(key, ast.Constant) and isinstance(key.value, str)
                          and key.value.split(".")[0] in SETTABLE_RC_GROUPS):  # fmt: skip
                    self.flag(node, f"sets rcParams[{ast.unparse(key)}]: homework code sets only the look of figures "
                                    f"(written-out keys of the groups {', '.join(sorted(SETTABLE_RC_GROUPS))})")  # fmt: skip

    def check_store(self, node, obj, attr, how):
        """
        An attribute ``attr`` (None: a computed name) set or deleted on
        ``obj``: allowed on self, on an object the same function (or the
        module's top level) made itself, and for a tensor's .grad and .data;
        never on anything imported. Changing other objects' attributes is how
        code rewires classes it did not write.
        """
        if self.from_import(obj):
            if not (how == "assigns to" and attr is not None and f"{self.imported_chain(obj)}.{attr}" in SETTABLE_LIBRARY):
                self.flag(node, f"{how} something imported (homework code changes no library)")
            return
        root = root_of(obj)
        if attr in SETTABLE_ANYWHERE:
            return
        if any(isinstance(link, ast.Subscript) for link in ast.walk(obj)):
            # An element of a list or dict may be anything put there, a class of another module or of a library.
            self.flag(node, f"{how} {ast.unparse(obj)[:60]}.{attr or '...'}, an element of a container (set "
                            "attributes of self, or of an object the same function creates, by its name)")  # fmt: skip
            return
        if self.is_instance_self(root):
            return
        if isinstance(root, ast.Name) and self.made and root.id in self.made[-1] \
                and self.makes_new_object(self.made[-1][root.id]):  # fmt: skip
            return
        self.flag(node, f"{how} {ast.unparse(obj)[:60]}.{attr or '...'}, an object this code did not make (set "
                        "attributes of self, or of an object the same function creates)")  # fmt: skip

    def track_aliases(self, targets, value):
        """A name given a library's object (``T = torch.Tensor``) stands for it: changing it changes the library."""
        if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript)) and self.from_import(value):
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        self.derived.add(name.id)

    def visit_Module(self, node):
        self.chain_parts, self.chain_roots, self.callees, self.method_calls = set(), set(), set(), set()
        self.made = [made_names(node.body)]
        self.own_methods = methods_of(node)
        self.class_names = {c.name for c in ast.walk(node) if isinstance(c, ast.ClassDef)}
        self.property_names = {f.name for c in ast.walk(node) if isinstance(c, ast.ClassDef) for f in c.body
                               if isinstance(f, ast.FunctionDef) and any(ast.unparse(d) == "property"
                                                                         for d in f.decorator_list)}  # fmt: skip
        self.parents = {id(child): parent for parent in ast.walk(node) for child in ast.iter_child_nodes(parent)}
        self.main_only = {id(n) for statement in node.body if is_main_guard(statement) for n in ast.walk(statement)}
        self.imports = self.bound_by_imports(node)
        self.generic_visit(node)
        self.check_graded_definitions(node)
        self.check_embedded_data(node)
        for attribute in ast.walk(node):
            if isinstance(attribute, ast.Attribute) and isinstance(attribute.ctx, ast.Load) \
                    and id(attribute) not in self.method_calls and self.is_method_reference(attribute):  # fmt: skip
                self.flag(attribute, f"takes the method {ast.unparse(attribute)} as a value (call it on self, or on "
                                     "an object of the class)")  # fmt: skip
        # The built-ins that reach code by name are called where they appear, never passed around.
        for name in ast.walk(node):
            if isinstance(name, ast.Name) and name.id in (*REFLECTION, *DYNAMIC_CODE) and id(name) not in self.callees \
                    and name.id not in self.imports and isinstance(name.ctx, ast.Load) and name.id != "type":  # fmt: skip
                self.flag(name, f"passes the built-in {name.id} around as a value")


def is_main_guard(statement) -> bool:
    """``if __name__ == "__main__":`` at the top of a module: code that runs as a script, never when it is imported."""
    test = getattr(statement, "test", None)
    return isinstance(statement, ast.If) and isinstance(test, ast.Compare) and len(test.ops) == 1 \
        and isinstance(test.ops[0], ast.Eq) and isinstance(test.left, ast.Name) and test.left.id == "__name__" \
        and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__"  # fmt: skip


def imported_names(tree) -> dict:
    """{name: the import statement} for every name an import binds at module scope (not inside a function or class)."""
    found, todo = {}, list(tree.body)
    while todo:
        statement = todo.pop()
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                found[alias.asname or alias.name.split(".")[0]] = statement
        elif not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            todo.extend(child for child in ast.iter_child_nodes(statement) if isinstance(child, ast.stmt))
    return found


def parse(source: bytes, file: str):
    """(tree, None), (None, why the file cannot be read as a module), or (None, None) for a syntax error."""
    if len(source) > MAX_SOURCE_BYTES:
        return None, f"{file} is larger than {MAX_SOURCE_BYTES >> 20} MiB"
    try:
        declared, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    except SyntaxError:  # bytes that are not UTF-8 in the first two lines: said below
        declared = "utf-8"
    if declared not in ("utf-8", "utf-8-sig"):
        # Python would decode the file as declared, and run other text than the rules read.
        return None, f"{file} declares the encoding {declared}: save it as UTF-8 without an encoding line"
    try:
        text = source.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"{file} is not UTF-8 text (byte {exc.start} cannot be decoded): save it as UTF-8 Python source"
    if "\0" in text:
        return None, f"{file} contains a NUL byte: it is not Python source"
    try:
        tree = ast.parse(text, filename=file)
    except SyntaxError:
        return None, None  # Python's own message says where, when the module is imported
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, f"{file} cannot be parsed ({type(exc).__name__})"
    if nesting(tree) > MAX_NESTING:
        # The rules walk the tree recursively: code nested deeper than anyone writes could exhaust the interpreter's
        # recursion limit, and code the rules cannot read does not run.
        return None, f"{file} nests its code more than {MAX_NESTING} levels deep (an expression or block inside another): " \
                     "split it into smaller statements"  # fmt: skip
    return tree, None


MAX_NESTING = 100
MAX_SCRATCH_SCOPES = 200


def nesting(tree) -> int:
    """How deep the syntax tree goes (counted without recursion)."""
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo += [(child, depth + 1) for child in ast.iter_child_nodes(node)]
    return deepest


def definitions_of(tree) -> set:
    """
    The top-level names a module defines itself that other modules may use:
    functions, classes and constants, not data another module could change
    (student modules share code; values travel as arguments).
    """
    names = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None \
                and is_constant(statement.value):  # fmt: skip
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names |= {n.id for n in assigned_names(targets)}
    return names


def is_constant(node) -> bool:
    """A literal that cannot change: a number, string, bytes, True/False/None, or a tuple of them (maths allowed)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Tuple):
        return all(is_constant(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp):
        return is_constant(node.operand)
    if isinstance(node, ast.BinOp):
        return is_constant(node.left) and is_constant(node.right)
    return False


def is_unbound(function) -> bool:
    """Whether a function in a class body is a static or class method (called through the class, it takes no self)."""
    return any(dotted(d)[1] in ("staticmethod", "classmethod") for d in function.decorator_list)


def methods_of(tree, prefix: str = "") -> dict:
    """
    {prefix + "Linear": the names of the instance methods it defines} for a module's
    top-level classes (and, without a prefix, for its classes inside
    functions too: their unbound methods take a foreign self just as well).
    """
    classes = tree.body if prefix else ast.walk(tree)
    methods = {}
    for statement in classes:
        if isinstance(statement, ast.ClassDef):
            names = {f.name for f in statement.body if isinstance(f, ast.FunctionDef) and not is_unbound(f)}
            methods.setdefault(f"{prefix}{statement.name}", set()).update(names)
    return methods


def check_source(source: bytes, file: str, definitions=None, methods=None) -> tuple[list, str | None]:
    """
    The findings in one module (``file`` as "hw/layers.py"), and why it
    cannot be read, if it cannot. ``definitions``: {"hw.answers": the names
    answers.py defines} and ``methods``: {"hw.layers.Linear": its methods}
    for the other student modules (see check_folder).
    """
    tree, problem = parse(source, file)
    if tree is None:
        return [], problem
    reader = Reader(file, tree, [rule for rule in FROM_SCRATCH if rule.file == file], definitions, methods)
    try:
        reader.visit(tree)
    except RecursionError:
        return [], f"{file} is nested too deeply to be read"
    dependencies = Dependencies(reader.bindings, {name for rule in reader.rules for name in rule.graded},
                                reader.statement_index)  # fmt: skip
    # Which code runs a finding matters for the from-scratch rules only (a flag withholds every point). Past
    # MAX_SCRATCH_SCOPES top-level names with refused code, each is taken as run by every name: walking the module
    # backwards from each would cost the module's size times theirs, and such a module loses the rule's points anyway.
    scopes = sorted({f.scope for f in reader.findings if f.from_scratch}, key=str)
    everyone = frozenset(reader.bindings)
    users = {scope: frozenset(dependencies.users(scope)) if len(scopes) <= MAX_SCRATCH_SCOPES else everyone
             for scope in scopes}  # fmt: skip
    unique = {(f.line, f.message, f.from_scratch): replace(f, used_by=users.get(f.scope, frozenset()))
              for f in reader.findings}  # fmt: skip
    return sorted(unique.values(), key=lambda f: (f.line, f.message)), None


# -- a submission ---------------------------------------------------------------


@dataclass
class Files:
    """What the grader would take from a folder that holds hw/."""

    modules: dict = field(default_factory=dict)  # "layers.py" -> its bytes, for the student modules that are there
    missing: list = field(default_factory=list)  # "hw/layers.py", ...
    unreadable: dict = field(default_factory=dict)  # "hw/layers.py" -> why it cannot be graded
    left_out: list = field(default_factory=list)  # every other file of hw/, as "hw/_fast.py"


def collect(folder: Path, limit_files: int = 2000) -> Files:
    """
    The student modules of ``folder``/hw, read without following links, and
    the files the grader leaves out. The course's own modules (PROVIDED_FILES)
    are neither read nor listed: the grader uses its own copies.
    """
    files = Files()
    package = Path(folder) / "hw"
    if package.is_symlink() or not package.is_dir():
        files.missing = [f"hw/{name}" for name in STUDENT_FILES]
        return files
    for name in STUDENT_FILES:
        path = package / name
        if path.is_symlink():
            files.unreadable[f"hw/{name}"] = f"hw/{name} is a link to another file, not a file: the grader follows no links"
        elif not path.exists():
            files.missing.append(f"hw/{name}")
        elif not path.is_file():
            files.unreadable[f"hw/{name}"] = f"hw/{name} is not a file"
        elif path.stat().st_size > MAX_SOURCE_BYTES:
            files.unreadable[f"hw/{name}"] = f"hw/{name} is larger than {MAX_SOURCE_BYTES >> 20} MiB"
        else:
            files.modules[name] = path.read_bytes()
    expected = set(STUDENT_FILES) | set(PROVIDED_FILES)
    for count, path in enumerate(sorted(package.rglob("*"))):
        if count >= limit_files:
            files.left_out.append("... (more files)")
            break
        relative = path.relative_to(package)
        if path.is_dir() and not path.is_symlink():
            continue
        if len(relative.parts) == 1 and relative.name in expected:
            continue
        if "__pycache__" in relative.parts or relative.parts[0] == ".ipynb_checkpoints":
            continue  # made by Python and Jupyter, not by the student
        files.left_out.append(f"hw/{relative.as_posix()}")
    return files


@dataclass
class Report:
    """The policy's verdict on a submission's modules."""

    files: Files
    findings: list = field(default_factory=list)  # every Finding, closed-world and from-scratch

    @property
    def flags(self):
        """Findings that reach outside the homework: a person reviews them."""
        return [f for f in self.findings if f.from_scratch is None]

    def scratch_findings(self, rule: FromScratch, classes=()):
        """
        The findings of ``rule`` in code that ``classes`` (top-level names)
        run: their own, their base classes', the module-level definitions they
        use and the module's top level (all findings without ``classes``).
        """
        return [
            f for f in self.findings
            if f.from_scratch == rule and (not classes or f.scope is None or f.used_by & set(classes))
        ]  # fmt: skip


def check_folder(folder: Path) -> Report:
    """Collects the student modules of ``folder``/hw and checks each with the policy."""
    files = collect(folder)
    report = Report(files)
    definitions, methods = {f"hw.{name[:-3]}": set() for name in STUDENT_FILES}, {}
    for name, source in files.modules.items():
        tree, _ = parse(source, f"hw/{name}")
        if tree is not None:
            definitions[f"hw.{name[:-3]}"] = definitions_of(tree)
            methods |= methods_of(tree, f"hw.{name[:-3]}.")
    for name, source in files.modules.items():
        findings, problem = check_source(source, f"hw/{name}", definitions, methods)
        if problem:
            files.unreadable[f"hw/{name}"] = problem
        report.findings += findings
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.policy", description="Checks hw/ modules against the rules.")
    parser.add_argument("folder", nargs="?", default=".", help="the folder that holds hw/ (default: here)")
    args = parser.parse_args(argv)
    report = check_folder(Path(args.folder))
    for finding in report.findings:
        print(finding.describe(), "(from scratch)" if finding.from_scratch else "")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
