"""
Trusted probes, run inside the grading worker next to the submission's code.

A probe builds the student's objects, feeds them inputs chosen by the harness
and returns plain data: tensors (always plain, detached copies), numbers,
strings, lists and dicts. Probes never judge: every comparison with a
reference happens in the harness. This file is loaded by path and must not
import anything of the instructor's repository.
"""
import contextlib
import importlib

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset

# Imported by the worker before it drops privileges (see course/grading/worker.py):
# what a submission's modules may import besides the standard library.
PRELOAD = (
    "numpy", "torch.nn", "torch.nn.functional", "torch.autograd", "torch.utils.data", "torch.optim",
    "tqdm", "tqdm.auto", "sklearn.metrics", "matplotlib.pyplot",
)  # fmt: skip


def warm_up():
    """
    Called by the worker before it drops privileges: runs what the probes and
    a submission may run, so that torch imports the parts it loads on first
    use (differentiating with grad_outputs loads its symbolic shapes) while
    they are still readable.
    """
    x = torch.randn(3, 4, requires_grad=True)
    torch.autograd.grad(torch.tanh(x), x, torch.ones(3, 4))
    # What the trainer probes run: a DataLoader pass and a module's backward.
    model = torch.nn.Linear(4, 2)
    for inputs, labels in DataLoader(TensorDataset(torch.randn(4, 4), torch.tensor([0, 1, 0, 1])), batch_size=2):
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
    # What the refusing modes run on first use.
    with layer_rules(refuse_autograd=True):
        (torch.randn(2, 3) @ torch.randn(3, 2)).clamp(min=0).sum()
    with module_rules():
        torch.randn(2, 3, requires_grad=True).tanh().sum().backward()

IMPORT_ERRORS = {}  # filled by the worker: module name -> why it did not import


class StudentError(Exception):
    """A problem in the submission, described for the student."""


def student_module(name):
    if name in IMPORT_ERRORS:
        raise StudentError(IMPORT_ERRORS[name])
    return importlib.import_module(name)


def student_class(name, module="hw.layers"):
    cls = getattr(student_module(module), name, None)
    if not isinstance(cls, type):
        raise StudentError(f"{module.replace('.', '/')}.py has no class {name}")
    return cls


def student_function(name, module):
    function = getattr(student_module(module), name, None)
    if not callable(function):
        raise StudentError(f"{module.replace('.', '/')}.py has no function {name}")
    return function


def plain_tensor(value, what):
    """A plain, detached copy of a tensor the submission produced."""
    if not isinstance(value, torch.Tensor):
        raise StudentError(f"{what} returned {type(value).__name__}, expected a torch.Tensor")
    copy = torch.empty(tuple(value.shape), dtype=value.dtype)
    with torch.no_grad():
        copy.copy_(value.detach())
    return copy


def build(spec):
    """
    An instance of a student layer from {"cls": name, "args": [...], "kwargs": {...}},
    converted to float64 by Layer.double() when the spec says "double": True.
    """
    cls = student_class(spec["cls"])
    layer = cls(*spec.get("args", []), **spec.get("kwargs", {}))
    if spec.get("double"):
        layer.double()
    return layer


def params_of(layer, what):
    params = layer.params()
    if not isinstance(params, (list, tuple)) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in params):
        raise StudentError(f"{what}.params() must return a list of (tensor, gradient) tuples")
    return params


def set_params(layer, values, what):
    """Copies ``values`` into the layer's parameters, in params() order, and zeroes the gradients."""
    params = params_of(layer, what)
    if len(params) != len(values):
        raise StudentError(f"{what}.params() returned {len(params)} parameters, expected {len(values)}")
    with torch.no_grad():
        for i, ((param, grad), value) in enumerate(zip(params, values)):
            for tensor, kind in ((param, "parameter"), (grad, "gradient")):
                if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != tuple(value.shape):
                    shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                    raise StudentError(
                        f"{what}.params()[{i}]: the {kind} has shape {shape}, expected {tuple(value.shape)}"
                    )
            param.copy_(value)
            grad.zero_()


def grads_of(layer, what):
    return [plain_tensor(grad, f"{what}.params() gradient") for _, grad in params_of(layer, what)]


def forward(layer, x, y, what):
    out = layer(x) if y is None else layer(x, y=y)
    return plain_tensor(out, f"{what}.forward")


# What from-scratch code may run, by ATen operator name: the dispatcher's names for making tensors, arithmetic and
# elementwise functions, reductions, matrix products, views and reshaping, indexing, padding and random numbers.
# Every route to PyTorch's kernels ends in one (an alias, getattr, torch.ops, DisableTorchFunction, a patched
# method), so what is not here (convolution, pooling, normalization, im2col, the derivatives autograd uses, any
# namespace but aten) is refused however it was reached. hw/policy.py's TENSOR_BASICS says the same in Python names.
ELEMENTARY_OPERATORS = frozenset({
    # making and copying tensors
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "new_zeros", "new_ones", "new_full",
    "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "arange", "linspace", "eye", "scalar_tensor",
    "lift_fresh", "lift_fresh_copy", "_to_copy", "to", "clone", "copy_", "detach", "detach_", "alias", "fill_",
    "zero_", "_local_scalar_dense", "rand", "rand_like", "randn", "randn_like", "randint", "randint_like",
    "randperm", "bernoulli", "bernoulli_", "uniform_", "normal", "normal_", "resize_", "set_",  # set_: torch.save
    # arithmetic and elementwise functions
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "neg_", "abs", "abs_", "sign",
    "sgn", "pow", "pow_", "sqrt", "sqrt_", "rsqrt", "rsqrt_", "square", "exp", "exp_", "log", "log_", "log1p",
    "expm1", "tanh", "tanh_", "sigmoid", "sigmoid_", "sin", "cos", "reciprocal", "reciprocal_", "clamp", "clamp_",
    "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "clip", "maximum", "minimum", "where", "floor", "ceil",
    "round", "trunc", "frac", "remainder", "fmod", "floor_divide", "isfinite", "isnan", "isinf", "isclose", "eq",
    "ne", "lt", "le", "gt", "ge", "eq_", "logical_and", "logical_or", "logical_not", "logical_xor", "bitwise_and",
    "bitwise_and_", "bitwise_or", "bitwise_or_", "bitwise_not", "bitwise_xor", "lerp", "lerp_", "addcmul",
    "addcmul_", "addcdiv", "addcdiv_", "masked_fill", "masked_fill_", "_softmax", "_log_softmax",
    # reductions
    "sum", "mean", "prod", "max", "min", "amax", "amin", "aminmax", "argmax", "argmin", "var", "std", "var_mean",
    "std_mean", "logsumexp", "norm", "linalg_vector_norm", "cumsum", "cumprod", "all", "any", "count_nonzero",
    "sort", "argsort", "topk", "bincount", "equal", "unique_dim", "_unique2",
    # matrix products
    "mm", "bmm", "mv", "dot", "addmm", "addmm_", "addmv", "baddbmm", "_unsafe_view",
    # views, reshaping and indexing
    "view", "reshape", "_reshape_alias", "as_strided", "expand", "permute", "transpose", "transpose_", "t",
    "squeeze", "squeeze_", "unsqueeze", "unsqueeze_", "select", "slice", "narrow", "split", "split_with_sizes",
    "chunk", "unbind", "cat", "stack", "flip", "roll", "unfold", "diagonal", "tril", "triu", "repeat",
    "repeat_interleave", "index", "index_put", "index_put_", "index_select", "index_add", "index_add_",
    "index_fill", "index_fill_", "gather", "scatter", "scatter_", "scatter_add", "scatter_add_", "masked_select",
    "nonzero", "take_along_dim", "view_as_real", "contiguous",
    # padding
    "constant_pad_nd", "pad",
})  # fmt: skip
# The derivatives autograd runs for the elementary operators (MyLinear and MyConv2d leave their backward pass to it).
ELEMENTARY_DERIVATIVES = frozenset({
    "unfold_backward", "select_backward", "slice_backward", "index_select_backward", "as_strided_backward",
    "diagonal_backward", "expand_backward", "permute_backward", "squeeze_backward", "unsqueeze_backward",
    "_softmax_backward_data", "_log_softmax_backward_data", "tanh_backward", "sigmoid_backward", "threshold_backward",
    "where_backward", "gather_backward", "index_backward", "masked_fill_backward", "constant_pad_nd_backward",
    "pow_backward", "mean_backward", "sum_backward", "max_backward", "norm_backward", "sort_backward",
})  # fmt: skip
ALLOWED_HERE = "tensor arithmetic, reductions, matrix products, views, indexing and padding"


class AllowOperators(TorchDispatchMode):
    """
    Refuses, with a StudentError, every operator that is not ``aten`` and in
    ``allowed``. With ``autograd`` False, also any operation that runs while
    gradients are being recorded or on a tensor that requires them: the probe
    turned recording off, so only the submission can have switched it back on
    (an autograd graph built in forward and replayed in backward included).
    With ``autograd`` True, the derivatives autograd runs for them
    (ELEMENTARY_DERIVATIVES) pass too: not a convolution's, whatever called it.
    """

    def __init__(self, allowed, what, autograd):
        super().__init__()
        self.allowed, self.what, self.autograd = allowed, what, autograd

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name, namespace = func.overloadpacket.__name__, func.namespace
        foreign = [t for t in (*types, *(type(t) for t in tensors_in(args, kwargs))) if t not in PLAIN_TENSOR_TYPES]
        if foreign:
            # A subclass's own __torch_dispatch__ runs after this mode lets the operator through: whatever it computes
            # there, this mode never sees.
            raise StudentError(f"{self.what} computed with a tensor subclass ({foreign[0].__name__}), which this part "
                               "does not allow: plain tensors only")  # fmt: skip
        derivative = self.autograd and namespace == "aten" and name in ELEMENTARY_DERIVATIVES
        if (namespace != "aten" or name not in self.allowed) and not derivative:
            raise StudentError(
                f"{self.what} ran PyTorch's {namespace}::{name}, which this part does not allow (only {ALLOWED_HERE}): "
                "it must be computed from scratch"
            )  # fmt: skip
        if not self.autograd:
            if torch.is_grad_enabled() or any(t.requires_grad for t in tensors_in(args, kwargs)):
                raise StudentError(f"{self.what} used automatic differentiation: gradients must be computed by hand")
        elif AUTOGRAD_REFUSED[0] and torch.is_grad_enabled():
            raise StudentError(f"{self.what} switched automatic differentiation back on: gradients must be computed by hand")
        result = func(*args, **(kwargs or {}))
        WORK.produced += sum(t.numel() for t in tensors_in((result,), None))
        return result


PLAIN_TENSOR_TYPES = frozenset({torch.Tensor, torch.nn.Parameter, *((torch.nn.Buffer,) if hasattr(torch.nn, "Buffer") else ())})


def tensors_in(args, kwargs):
    """The tensors among an operator's arguments, and in its list arguments (cat, stack)."""
    for value in (*args, *(kwargs or {}).values()):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, torch.Tensor))


AUTOGRAD_REFUSED = [False]  # set while a hand-written backward pass runs, and while a result is serialised


class OperatorWork:
    """
    The tensor elements the operators of a probe under the layer rules
    produced: what a backward pass computed, against its forward pass. A
    backward pass from the derivative costs a few forward passes (the
    solution's 0.75 to 4.5); differentiating numerically costs one forward
    pass per element perturbed (363 to millions, measured).
    """

    def __init__(self):
        self.produced = 0  # elements, since the worker started
        self.mark = 0  # where the current forward pass began

    def since_mark(self) -> int:
        return self.produced - self.mark


WORK = OperatorWork()
MAX_BACKWARD_WORK = 50  # times the forward pass's elements
BACKWARD_WORK_SLACK = 4096  # elements, for layers whose forward pass produces only a few


@contextlib.contextmanager
def autograd_refused():
    previous, AUTOGRAD_REFUSED[0] = AUTOGRAD_REFUSED[0], True
    try:
        yield
    finally:
        AUTOGRAD_REFUSED[0] = previous


@contextlib.contextmanager
def layer_rules(refuse_autograd=False):
    """
    Part 1 and 3's rules for the student's layers: gradients are not recorded
    and may not be, no tensor that requires them is used, and only the
    elementary operators run.
    """
    with torch.no_grad(), AllowOperators(ELEMENTARY_OPERATORS, "the layer", autograd=False):
        with autograd_refused() if refuse_autograd else contextlib.nullcontext():
            WORK.mark = WORK.produced
            yield


@contextlib.contextmanager
def module_rules(refuse_autograd=False):
    """
    MyLinear and MyConv2d's rule: only the elementary operators (and the
    derivatives autograd computes from them). With ``refuse_autograd``
    (serialising a result), gradients are off and may not be switched back on.
    """
    what = "MyLinear or MyConv2d"
    with AllowOperators(ELEMENTARY_OPERATORS, what, autograd=True), contextlib.ExitStack() as stack:
        if refuse_autograd:
            stack.enter_context(torch.no_grad())
            stack.enter_context(autograd_refused())
        yield


@contextlib.contextmanager
def box_rules(refuse_autograd=False):
    """box_iou and nms: only the elementary operators (torchvision's nms is an operator of its own)."""
    with torch.no_grad(), AllowOperators(ELEMENTARY_OPERATORS, "box_iou or nms", autograd=False):
        yield


def under(rules):
    """
    Marks a probe to run under ``rules``. The worker applies them around the
    probe and again (with autograd refused) around the serialisation of its
    result, so that code the submission hooked into serialisation meets the
    same rules. They are thread-local: the policy refuses threads (hw/policy.py).
    """

    def mark(probe):
        probe.rules = rules
        return probe

    return mark


by_hand = under(layer_rules)


def backward_by_hand(layer, dout, what):
    """
    layer.backward(dout), with any operation that records gradients refused,
    and at most MAX_BACKWARD_WORK times the work of the forward pass before it
    (since the probe began, or since the previous backward pass).
    """
    forward_work, start = WORK.since_mark(), WORK.produced
    with autograd_refused():
        dx = plain_tensor(layer.backward(dout), f"{what}.backward")
    backward_work, WORK.mark = WORK.produced - start, WORK.produced
    if backward_work > MAX_BACKWARD_WORK * forward_work + BACKWARD_WORK_SLACK:
        raise StudentError(
            f"{what}.backward computed {backward_work:,} tensor elements, {backward_work / max(forward_work, 1):,.0f} "
            f"times the {forward_work:,} of the forward pass before it (at most {MAX_BACKWARD_WORK} times): a backward "
            "pass applies the derivative you worked out, a few forward passes' work; perturbing the input element by "
            "element (numerical differentiation) is how the notebook checks a gradient, not how a layer computes it"
        )  # fmt: skip
    return dx


def hyperparameters(name):
    """The dict returned by ``hw.answers.<name>()``, with every value a float."""
    hp = student_function(name, "hw.answers")()
    if not isinstance(hp, dict):
        raise StudentError(f"{name}() returned {type(hp).__name__}, expected a dict")
    values = {}
    for key, value in hp.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise StudentError(f"{name}()[{key!r}] is {value!r}, expected a number")
        values[str(key)] = float(value)
    return values


def written_answers(names):
    """The Markdown each answer function in hw/answers.py returns, or why there is none."""
    answers = {}
    for name in names:
        try:
            fn = getattr(student_module("hw.answers"), name, None)
            if not callable(fn):
                answers[name] = f"*hw/answers.py has no function `{name}`.*"
                continue
            text = fn()
            answers[name] = text if isinstance(text, str) else f"*`{name}()` returned {type(text).__name__}, not text.*"
        except NotImplementedError:
            answers[name] = f"*Not answered: `{name}()` still raises NotImplementedError.*"
        except StudentError as exc:
            answers[name] = f"*No answer: {exc}*"
        except Exception as exc:  # noqa: BLE001 - one broken answer must not hide the others
            answers[name] = f"*No answer: `{name}()` raised {type(exc).__name__}: {exc}*"
    return answers


# Every part's file adds its own (probes_part1.py ... probes_part6.py, sent after this one).
PROBES = {f.__name__: f for f in (hyperparameters, written_answers)}
