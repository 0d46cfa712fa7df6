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
import numbers
import os
import sys
import tempfile
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset

# Imported by the worker before it drops privileges (see course/worker.py):
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


# -- probes -----------------------------------------------------------------


def set_attributes(layer, values, what):
    """Copies tensors into existing tensor attributes of the layer (e.g. BatchNorm2d's running_mean)."""
    with torch.no_grad():
        for name, value in values.items():
            current = getattr(layer, name, None)
            if not isinstance(current, torch.Tensor) or tuple(current.shape) != tuple(value.shape):
                raise StudentError(f"{what} has no tensor attribute {name!r} of shape {tuple(value.shape)}")
            current.copy_(value)


def read_attributes(layer, names, what):
    values = {}
    for name in names:
        value = getattr(layer, name, None)
        if not isinstance(value, torch.Tensor):
            raise StudentError(f"{what} has no tensor attribute {name!r}")
        values[name] = plain_tensor(value, f"{what}.{name}")
    return values


@by_hand
def layer_pass(spec, x, douts, params=None, y=None, train=True, state=None, read=()):
    """
    Builds a layer, optionally sets its parameters (and tensor attributes from
    ``state``), and runs one forward pass, then a backward pass per entry of
    ``douts`` with a new forward pass before each but the first (parameter
    gradients accumulate in between). With no ``douts`` only the forward pass
    runs: forward tests do not depend on backward.

    Returns {"outs": [...], "dxs": [...], "grads": [...] after the last pass,
    "attributes": {name: tensor} for the names in ``read``}.
    """
    layer = build(spec)
    what = spec["cls"]
    if params is not None:
        set_params(layer, params, what)
    set_attributes(layer, state or {}, what)
    layer.train(train)
    outs, dxs = [forward(layer, x, y, what)], []
    for i, dout in enumerate(douts):
        if i > 0:
            outs.append(forward(layer, x, y, what))
        dxs.append(backward_by_hand(layer, dout, what))
    grads = grads_of(layer, what) if params is not None else []
    return {"outs": outs, "dxs": dxs, "grads": grads, "attributes": read_attributes(layer, read, what)}


def conv_output_shape(args, kwargs, input_shape):
    """Conv2d(*args, **kwargs).output_shape(input_shape), as a list of ints."""
    shape = student_class("Conv2d")(*args, **kwargs).output_shape(tuple(input_shape))
    if not isinstance(shape, (tuple, list)) or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape):
        raise StudentError(f"Conv2d.output_shape returned {shape!r}, expected a tuple of ints")
    return [int(s) for s in shape]


@under(module_rules)
def module_pass(cls, args, kwargs, state, x, dout):
    """
    hw.cnn's ``cls(*args, **kwargs)`` with ``state`` (a torch layer's state dict) loaded:
    its output, and the gradients autograd computes through it for
    <output, dout>: the input's, then the parameters' in state dict order.
    """
    module = student_class(cls, module="hw.cnn")(*args, **kwargs)
    if not isinstance(module, torch.nn.Module):
        raise StudentError(f"{cls} is not a torch.nn.Module")
    module.load_state_dict(state)
    x = x.clone().requires_grad_(True)
    out = module(x)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(dout.shape):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise StudentError(f"{cls}.forward returned {got}, expected shape {tuple(dout.shape)}")
    out.backward(dout)
    params = dict(module.named_parameters())
    grads = []
    for name in state:
        grad = params[name].grad if name in params else None
        if grad is None:
            raise StudentError(f"{cls}: no gradient reached the parameter {name!r}")
        grads.append(plain_tensor(grad, f"{cls}.{name}.grad"))
    return {"out": plain_tensor(out, f"{cls}.forward"), "grads": [plain_tensor(x.grad, f"{cls}: input gradient"), *grads]}


def linear_attributes(in_features, out_features, wstd):
    """
    Shapes and initial values of a fresh Linear, then whether params() holds
    the layer's own tensors: w, dw, b, db are filled with 1, 2, 3, 4, each
    (tensor, gradient) of params() is then raised by 10 and 100 in place, and
    the attributes are read again.
    """
    layer = build({"cls": "Linear", "args": [in_features, out_features], "kwargs": {"wstd": wstd}})
    names = ("w", "dw", "b", "db")
    result = read_attributes(layer, names, "Linear")
    params = params_of(layer, "Linear")
    with torch.no_grad():
        for fill, name in enumerate(names, start=1):
            getattr(layer, name).fill_(fill)
        for param, grad in params:
            for tensor, step in ((param, 10), (grad, 100)):
                if isinstance(tensor, torch.Tensor):
                    tensor.add_(step)
    result["after_params_update"] = read_attributes(layer, names, "Linear")
    result["num_params"] = len(params)
    return result


@by_hand
def sequential_pass(specs, params, x, dout, y=None, train=True):
    """A Sequential of the given layers: one forward and backward pass."""
    seq = student_class("Sequential")(*[build(spec) for spec in specs])
    set_params(seq, params, "Sequential")
    seq.train(train)
    out = forward(seq, x, y, "Sequential")
    dx = backward_by_hand(seq, dout, "Sequential")
    return {"out": out, "dx": dx, "grads": grads_of(seq, "Sequential")}


def describe_layer(layer, classes):
    """The kind of a layer (the first class it is an instance of) and its sizes."""
    kind = next((name for name, cls in classes if isinstance(layer, cls)), type(layer).__name__)
    info = {"kind": kind}
    for attr in ("in_features", "out_features", "p", "alpha"):
        value = getattr(layer, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            info[attr] = value
    if kind == "Linear":
        w = getattr(layer, "w", None)
        if isinstance(w, torch.Tensor):
            info["w_shape"] = list(w.shape)
    return info


def mlp_structure(mlp_kwargs):
    """The layers of an MLP, in order, as described by describe_layer."""
    mlp = student_class("MLP")(**mlp_kwargs)
    sequence = getattr(mlp, "sequence", None)
    if sequence is None:
        raise StudentError("MLP has no attribute 'sequence'")
    # ReLU before LeakyReLU: a ReLU is also a LeakyReLU.
    names = ["Linear", "ReLU", "LeakyReLU", "Sigmoid", "TanH", "Dropout"]
    classes = [(name, student_class(name)) for name in names]
    return [describe_layer(layer, classes) for layer in sequence]


@by_hand
def mlp_loss_pass(mlp_kwargs, params, x, y, train=True):
    """Sequential(MLP, CrossEntropyLoss): the loss, dL/dx and the parameter gradients."""
    mlp = student_class("MLP")(**mlp_kwargs)
    set_params(mlp, params, "MLP")
    model = student_class("Sequential")(mlp, student_class("CrossEntropyLoss")())
    model.train(train)
    loss = forward(model, x, y, "Sequential(MLP, CrossEntropyLoss)")
    dx = backward_by_hand(model, torch.tensor(1.0), "Sequential(MLP, CrossEntropyLoss)")
    return {"loss": loss, "dx": dx, "grads": grads_of(mlp, "MLP")}


LIBRARY_UPDATE_RULES = (os.path.dirname(torch.optim.__file__) + os.sep,)  # where torch.optim's step code lives


@contextlib.contextmanager
def optimizer_rules():
    """
    The optimizers' rule at run time: a step or zero_grad records no
    gradients and may not switch recording on, runs only the elementary
    operators, and runs no code of torch.optim (whose CPU steps are made of
    elementary operators too), however reached: a profile hook sees every
    Python function that runs.
    """
    ran = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(LIBRARY_UPDATE_RULES) and not ran:
            ran.append(f"{os.path.basename(frame.f_code.co_filename)}: {frame.f_code.co_name}")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        with torch.no_grad(), AllowOperators(ELEMENTARY_OPERATORS, "the optimizer", autograd=True), autograd_refused():
            yield
    finally:
        sys.setprofile(previous)
    if ran:
        raise StudentError(f"the optimizer ran torch.optim's code ({ran[0]}): the update rules are written by hand")


def _optimizer_on_one_parameter(cls, kwargs, initial, form):
    """A student optimizer over one parameter in the given form, with the parameter and its gradient."""
    optimizer_class = student_class(cls, module="hw.optimizers")
    if form == "tuples":
        param, grad = initial.clone(), torch.zeros_like(initial)
        return optimizer_class([(param, grad)], **kwargs), param, grad
    param = torch.nn.Parameter(initial.clone())
    param.grad = torch.zeros_like(initial)
    return optimizer_class([param], **kwargs), param, param.grad


def optimizer_steps(cls, kwargs, initial, grads, form="tuples"):
    """
    Runs ``len(grads)`` steps of a student optimizer on one parameter, the
    gradient set to ``grads[i]`` before step i. ``form`` is "tuples" (a
    Layer-style (tensor, gradient) pair) or "tensors" (an nn.Parameter whose
    gradient is in .grad). Returns the parameter and the model's gradient
    tensor after every step.
    """
    optimizer, param, grad = _optimizer_on_one_parameter(cls, kwargs, initial, form)
    after, grads_after = [], []
    for g in grads:
        grad.copy_(g)
        with optimizer_rules():
            optimizer.step()
        after.append(plain_tensor(param.detach(), f"{cls}: the parameter"))
        grads_after.append(plain_tensor(grad, f"{cls}: the gradient"))
    return {"after": after, "grads_after": grads_after}


def optimizer_zero_grad(cls, kwargs, initial, grad_value, form="tuples"):
    """
    The gradient tensor the model held before zero_grad(), read after it
    (zeroed in place, or left as it was when zero_grad() put a new tensor in
    its place), and what the parameter holds now.
    """
    optimizer, param, grad = _optimizer_on_one_parameter(cls, kwargs, initial, form)
    grad.copy_(grad_value)
    with optimizer_rules():
        optimizer.zero_grad()
    held = grad if form == "tuples" else param.grad
    if held is None:
        raise StudentError(f"{cls}.zero_grad() set the parameter's .grad to None; zero it in place instead")
    return {"original": plain_tensor(grad, f"{cls}: the gradient"), "held": plain_tensor(held, f"{cls}.zero_grad()")}


# -- trainer probes: trusted models and optimizers, the student's Trainer -----


def training_mask(num_features):
    """
    What the trusted models multiply their input by in training mode (a fixed
    dropout: features 0, 2, 4, ... doubled, the others dropped). So the
    losses a trainer reports, and the weights it ends with, show which mode
    the model was in; the harness computes the same.
    """
    mask = torch.zeros(num_features)
    mask[::2] = 2.0
    return mask


class ProbeLinear:
    """
    A trusted linear classifier with the Layer API (scores = x @ w.T + b,
    with training_mask applied to x in training mode), for LayerTrainer.
    """

    def __init__(self, w, b):
        self.w, self.b = w.clone(), b.clone()
        self.dw, self.db = torch.zeros_like(self.w), torch.zeros_like(self.b)
        self.training_mode = True
        self.x = None

    def __call__(self, x, **kw):
        return self.forward(x, **kw)

    def forward(self, x, **kw):
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise StudentError(f"LayerTrainer gave the model a batch of shape {shape}; flatten it to (N, D) first")
        if self.training_mode:
            x = x * training_mask(x.shape[1])
        self.x = x
        return x @ self.w.T + self.b

    def backward(self, dout):
        self.dw += dout.T @ self.x
        self.db += dout.sum(dim=0)
        return dout @ self.w

    def params(self):
        return [(self.w, self.dw), (self.b, self.db)]

    def train(self, training_mode=True):
        self.training_mode = training_mode

    def state_dict(self):
        return [self.w.clone(), self.b.clone()]

    def load_state_dict(self, state):
        self.w.copy_(state[0])
        self.b.copy_(state[1])


class ProbeCrossEntropy:
    """A trusted mean cross-entropy loss with the Layer API, for LayerTrainer."""

    def __call__(self, x, y=None, **kw):
        return self.forward(x, y=y)

    def forward(self, x, y=None, **kw):
        if y is None:
            raise StudentError("LayerTrainer called the loss without the labels y")
        self.x, self.y = x, y
        return torch.nn.functional.cross_entropy(x, y)

    def backward(self, dout=1.0):
        probs = torch.softmax(self.x, dim=1)
        probs[torch.arange(len(self.y)), self.y] -= 1
        return probs * (dout / len(self.y))


class ProbeTorchLinear(torch.nn.Module):
    """A trusted linear classifier as an nn.Module, for ClassifierTrainer; the same model as ProbeLinear."""

    def __init__(self, w, b):
        super().__init__()
        self.linear = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(w)
            self.linear.bias.copy_(b)

    def forward(self, x):
        x = x.flatten(1)
        if self.training:
            x = x * training_mask(x.shape[1])
        return self.linear(x)


class ProbeSGD:
    """
    Trusted plain SGD over (tensor, gradient) pairs or tensors with .grad,
    with a state (its step count) for checkpoints.
    """

    def __init__(self, params, learn_rate):
        self.param_list = list(params)
        self.learn_rate = learn_rate
        self.steps = 0

    def pairs(self):
        if self.param_list and isinstance(self.param_list[0], torch.Tensor):
            return [(p.data, p.grad) for p in self.param_list]
        return self.param_list

    def zero_grad(self):
        for _, grad in self.pairs():
            if grad is not None:
                grad.zero_()

    def step(self):
        with torch.no_grad():
            for param, grad in self.pairs():
                if grad is not None:
                    param -= self.learn_rate * grad
        self.steps += 1

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


class ScriptedOptimizer(ProbeSGD):
    """Sets the parameters to the next entry of ``script`` on every step, whatever the gradients."""

    def __init__(self, params, script):
        super().__init__(params, learn_rate=0.0)
        self.script = script

    def step(self):
        if self.steps >= len(self.script):
            raise StudentError(f"the trainer took more optimizer steps than the {len(self.script)} expected")
        with torch.no_grad():
            for (param, _), value in zip(self.pairs(), self.script[self.steps]):
                param.copy_(value)
        self.steps += 1


def _trainer(kind, w, b, make_optimizer):
    """The student's trainer of the given kind around a trusted model, loss and optimizer."""
    cls = student_class(kind, module="hw.training")
    if kind == "LayerTrainer":
        model = ProbeLinear(w, b)
        optimizer = make_optimizer(model.params())
        return cls(model, ProbeCrossEntropy(), optimizer), model, optimizer
    model = ProbeTorchLinear(w, b)
    optimizer = make_optimizer(list(model.parameters()))
    return cls(model, torch.nn.CrossEntropyLoss(), optimizer, device="cpu"), model, optimizer


def _weights(model):
    if isinstance(model, ProbeLinear):
        return [plain_tensor(model.w, "the weights"), plain_tensor(model.b, "the bias")]
    return [plain_tensor(model.linear.weight, "the weights"), plain_tensor(model.linear.bias, "the bias")]


def _loader(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


def _epoch_result(result, what):
    losses, accuracy = getattr(result, "losses", None), getattr(result, "accuracy", None)
    if losses is None or accuracy is None:
        raise StudentError(f"{what} returned {type(result).__name__}, expected an EpochResult")
    return {"losses": [float(loss) for loss in losses], "accuracy": float(accuracy)}


def trainer_epoch(kind, w, b, x, y, batch_size, learn_rate, train=True, max_batches=None):
    """
    One train_epoch (or test_epoch) of the student's trainer on a trusted linear
    model trained by plain SGD. Returns the EpochResult's losses and accuracy
    and the weights after the epoch.
    """
    trainer, model, optimizer = _trainer(kind, w, b, lambda params: ProbeSGD(params, learn_rate))
    kwargs = {"verbose": False}
    if max_batches is not None:
        kwargs["max_batches"] = max_batches
    method = "train_epoch" if train else "test_epoch"
    result = getattr(trainer, method)(_loader(x, y, batch_size), **kwargs)
    return {**_epoch_result(result, f"{kind}.{method}"), "weights": _weights(model)}


def trainer_fit(kind, w, b, train, test, batch_size, script, num_epochs, early_stopping=None, checkpoint=False):
    """
    The student's fit() on a trusted linear model whose parameters after each
    optimizer step are ``script[step]``. With ``checkpoint``, fit() saves into
    a fresh folder. Returns the FitResult, the final weights and the
    optimizer's step count (restored with the checkpoint).
    """
    trainer, model, optimizer = _trainer(kind, w, b, lambda params: ScriptedOptimizer(params, script))
    with tempfile.TemporaryDirectory() as folder:
        checkpoints = os.path.join(folder, "best") if checkpoint else None
        result = trainer.fit(
            _loader(*train, batch_size),
            _loader(*test, batch_size),
            num_epochs,
            checkpoints=checkpoints,
            early_stopping=early_stopping,
            print_every=num_epochs + 1,
        )
    fields = ("num_epochs", "train_loss", "train_acc", "test_loss", "test_acc")
    if not all(hasattr(result, name) for name in fields):
        raise StudentError(f"{kind}.fit returned {type(result).__name__}, expected a FitResult")
    fit = {name: [float(v) for v in getattr(result, name)] for name in fields[1:]}
    fit["num_epochs"] = int(result.num_epochs)
    return {"fit": fit, "weights": _weights(model), "steps": optimizer.steps}


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


# -- Part 4: architectures and classifiers --------------------------------------------

ARCHITECTURE_PARTS = ("feature_extractor", "classifier", "main_path", "shortcut_path")


def _describe(module):
    """The layer class names of each part the skeleton names, and the state dict's shapes."""
    parts = {}
    for part in ARCHITECTURE_PARTS:
        sub = getattr(module, part, None)
        if isinstance(sub, torch.nn.Sequential):
            parts[part] = [type(layer).__name__ for layer in sub]
        elif isinstance(sub, torch.nn.Module):
            parts[part] = [type(sub).__name__]
    shapes = {str(k): [int(s) for s in v.shape] for k, v in module.state_dict().items()}
    return {"parts": parts, "state_shapes": shapes,
            "num_parameters": int(sum(p.numel() for p in module.parameters()))}  # fmt: skip


def architecture_pass(cls, kwargs, state=None, x=None, dout=None):
    """
    hw.cnn's ``cls(**kwargs)``: its structure (layer class names of each named
    part, state dict shapes, parameter count); with ``state``, that state dict
    loaded (strictly) and, with ``x``, its output in eval mode; with ``dout``
    also the gradient of <output, dout> with respect to x.
    """
    module = student_class(cls, module="hw.cnn")(**kwargs)
    if not isinstance(module, torch.nn.Module):
        raise StudentError(f"{cls} is not a torch.nn.Module")
    result = _describe(module)
    if state is None:
        return result
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split()).replace(f"Error(s) in loading state_dict for {type(module).__name__}: ", "")
        raise StudentError(f"{cls}: the parameters do not match the architecture: {detail[:400]}") from None
    module.eval()
    x = x.clone().requires_grad_(dout is not None)
    with torch.set_grad_enabled(dout is not None):
        out = module(x)
    if not isinstance(out, torch.Tensor):
        raise StudentError(f"{cls}.forward returned {type(out).__name__}, expected a tensor")
    result["out"] = plain_tensor(out, f"{cls}.forward")
    if dout is not None:
        if tuple(out.shape) != tuple(dout.shape):
            raise StudentError(f"{cls}.forward returned shape {tuple(out.shape)}, expected {tuple(dout.shape)}")
        out.backward(dout)
        if x.grad is None:
            raise StudentError(f"{cls}: no gradient reached the input")
        result["dx"] = plain_tensor(x.grad, f"{cls}: input gradient")
    return result


def construction_error(cls, kwargs):
    """The exception hw.cnn's ``cls(**kwargs)`` raises, as (type name, message), or None."""
    try:
        student_class(cls, module="hw.cnn")(**kwargs)
    except StudentError:
        raise
    except Exception as exc:  # noqa: BLE001 - which exception is the answer
        return [type(exc).__name__, str(exc)[:300]]
    return None


def classifier_pass(cls, kwargs, scores):
    """
    hw.classifier's ``cls(nn.Identity(), **kwargs)`` on ``scores`` used as the
    model's output: predict_proba and classify.
    """
    classifier = student_class(cls, module="hw.classifier")(torch.nn.Identity(), **kwargs)
    y_proba = classifier.predict_proba(scores.clone())
    y_pred = classifier.classify(scores.clone())
    return {"proba": plain_tensor(y_proba, f"{cls}.predict_proba"), "pred": plain_tensor(y_pred, f"{cls}.classify")}


def roc_threshold(scores, y, positive_class):
    """select_roc_thresh on a BinaryClassifier whose model outputs ``scores`` (N, 2) as they are."""
    binary = student_class("BinaryClassifier", module="hw.classifier")(torch.nn.Identity(), positive_class=positive_class)
    select = student_function("select_roc_thresh", "hw.classifier")
    thresh = select(binary, scores.clone(), y.clone())
    try:
        return float(thresh)  # a Python, numpy or one-element torch number
    except (TypeError, ValueError):
        raise StudentError(f"select_roc_thresh returned {type(thresh).__name__}, expected a float") from None


class CountWork(TorchDispatchMode):
    """Counts the elements that PyTorch's operators produce: the work done, whatever operators did it."""

    def __init__(self):
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.elements += sum(t.numel() for t in tensors_in((out,), None))
        return out


@contextlib.contextmanager
def parameters_unchanged(model):
    """
    Refuses a forward pass that changes the network's parameters or gives it
    hooks: their values are compared (a write through ``.data`` leaves the
    version counter as it was), and a hook would show the network the
    gradient of the loss, and so the labels.
    """
    before = [(p, p.detach().clone()) for p in model.parameters()]
    yield
    after = list(model.parameters())
    if len(after) != len(before) or any(p is not q or not torch.equal(p.detach(), v) for (q, v), p in zip(before, after)):
        raise StudentError("YourCNN.forward changed the network's parameters: only the recipe's optimizer may train it")
    check_no_hooks(model)


class OwnValues(TorchDispatchMode):
    """
    Counts the values a forward pass computes with that come neither from its
    input, the network's parameters and buffers, nor from operators run in this
    pass on those: tensors kept elsewhere (a dict, a global, a closure), tensors
    made from Python data (``torch.tensor([...])``), and numbers handed to the
    operators. A network is its parameters: weights trained elsewhere and
    carried beside them would be knowledge the recipe did not teach it.
    """

    def __init__(self, model, inputs):
        super().__init__()
        self.own = {}  # id -> weak reference: an id alone could be reused by a tensor made after one is freed
        for tensor in (*model.parameters(), *model.buffers(), *inputs):
            self.note(tensor)
        self.outside_elements = 0
        self.numbers = 0

    def note(self, tensor):
        self.own[id(tensor)] = weakref.ref(tensor)

    def is_own(self, tensor) -> bool:
        ref = self.own.get(id(tensor))
        return ref is not None and ref() is tensor

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        for value in (*args, *(kwargs or {}).values()):
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, torch.Tensor) and not self.is_own(item):
                    self.outside_elements += item.numel()
                    self.note(item)  # counted once
                elif isinstance(item, numbers.Number):
                    self.numbers += 1
        out = func(*args, **(kwargs or {}))
        for tensor in tensors_in((out,), None):
            if func in MADE_FROM_PYTHON_DATA:
                self.outside_elements += tensor.numel()
            self.note(tensor)
        return out


MADE_FROM_PYTHON_DATA = {torch.ops.aten.lift_fresh.default, torch.ops.aten.lift_fresh_copy.default}
# Per forward pass. The course's networks take none of the first and 50-120 numbers (strides, eps, a slope).
OUTSIDE_ELEMENTS_LIMIT = 256
NUMBERS_LIMIT = 1024


@contextlib.contextmanager
def own_values_only(model, images):
    """Refuses a forward pass of ``model`` on ``images`` that computes with more values of its own than OwnValues allows."""
    with OwnValues(model, [images]) as values:
        yield
    if values.outside_elements > OUTSIDE_ELEMENTS_LIMIT:
        raise StudentError(f"YourCNN.forward computed with {values.outside_elements:,} values that are neither its input "
                           f"nor its parameters or buffers (at most {OUTSIDE_ELEMENTS_LIMIT}): tensors kept outside the "
                           "network or made from Python data are values the recipe does not train")  # fmt: skip
    if values.numbers > NUMBERS_LIMIT:
        raise StudentError(f"YourCNN.forward handed {values.numbers:,} Python numbers to PyTorch's operators in one pass "
                           f"(at most {NUMBERS_LIMIT}): a network computes with its parameters, not with numbers "
                           "written in its code")  # fmt: skip


def check_no_hooks(model):
    hooked = [name or "YourCNN" for name, m in model.named_modules()
              if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks]  # fmt: skip
    if hooked:
        raise StudentError(f"YourCNN has hooks ({', '.join(hooked[:3])}): a network learns from the recipe's optimizer alone")


def forward_work(model, images):
    """
    The work of a forward pass of ``model`` on one image, the median over
    ``images`` (images the network trains on: work it burnt on them would
    slow its training as much), measured without changing the model or the
    random state.
    """
    state, training = torch.random.get_rng_state(), model.training
    model.eval()
    counts = []
    try:
        for image in images:
            image = image[None].clone()
            with torch.no_grad(), CountWork() as work, parameters_unchanged(model), own_values_only(model, image):
                model(image)
            counts.append(work.elements)
    finally:
        model.train(training)
        torch.random.set_rng_state(state)
    return sorted(counts)[len(counts) // 2]


def checked_forward(model, images):
    """``model(images)`` computing with its input, parameters and buffers alone (own_values_only)."""
    with own_values_only(model, images):
        return model(images)


def predictions_untrained(model, test_x):
    """The labels the network predicts in evaluation mode, without changing it or the random state."""
    state = torch.random.get_rng_state()
    model.eval()
    try:
        with torch.no_grad(), parameters_unchanged(model):
            predictions = torch.cat([checked_forward(model, chunk).argmax(dim=1) for chunk in test_x.split(200)])
    finally:
        torch.random.set_rng_state(state)
    return plain_tensor(predictions, "YourCNN's predictions before training")


def check_no_pretraining(model, construction, images):
    """A network's constructor makes its parameters and may run a forward pass or two: it does not train the network."""
    num_parameters, per_image = sum(p.numel() for p in model.parameters()), forward_work(model, images)
    allowed = 16 * per_image + 64 * num_parameters + 1_000_000
    if construction.elements > allowed:
        raise StudentError(f"YourCNN's constructor computed {construction.elements:,} tensor elements, more than 16 "
                           f"forward passes of one image ({per_image:,} each) and initialising {num_parameters:,} "
                           "parameters need: a network must not train itself before the recipe trains it")  # fmt: skip


def yourcnn_train(in_size, num_classes, train_x, train_y, test_x, epochs, batch_size, lr, seed):
    """
    YourCNN(in_size, num_classes) trained with the fixed recipe (Adam, cross
    entropy, shuffled batches); returns its predicted labels of test_x and the
    number of parameters. The harness holds the test labels (and numbers the
    classes as it chooses: train_y need not follow hw.data.SHAPE_CLASSES).
    """
    check_random_start(in_size, num_classes, train_x[:3], seed)
    torch.manual_seed(seed)
    model = built_yourcnn(in_size, num_classes, train_x[:3])
    before = predictions_untrained(model, test_x)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(train_x), generator=order).split(batch_size):
            optimizer.zero_grad()  # before the forward pass: it sees no gradient of the last batch
            with parameters_unchanged(model):
                scores = checked_forward(model, train_x[batch])
            if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (len(batch), num_classes):
                got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
                raise StudentError(f"YourCNN.forward returned {got}, expected shape ({len(batch)}, {num_classes})")
            loss = torch.nn.functional.cross_entropy(scores, train_y[batch])
            loss.backward()
            optimizer.step()
    check_no_hooks(model)
    # A network is its parameters: a new YourCNN given the trained state dict is what is graded, so that nothing the
    # trained object keeps beside them (a counter of the batches it saw, say) changes its answers. A second new one,
    # untrained, must still be near chance now that training has run.
    trained = built_yourcnn(in_size, num_classes, train_x[:3])
    try:
        trained.load_state_dict(model.state_dict())
    except (RuntimeError, KeyError, TypeError) as exc:
        raise StudentError(f"a new YourCNN does not take the trained one's state dict: {str(exc)[:300]}") from None
    predictions = predictions_untrained(trained, test_x)
    after = predictions_untrained(built_yourcnn(in_size, num_classes, train_x[:3]), test_x)
    return {"pred": plain_tensor(predictions, "YourCNN's predictions"), "pred_before": before,
            "pred_untrained_after": after, "num_parameters": int(sum(p.numel() for p in model.parameters()))}  # fmt: skip


def built_yourcnn(in_size, num_classes, images):
    """YourCNN(in_size, num_classes), built without training itself (check_no_pretraining on ``images``)."""
    with CountWork() as construction:
        model = student_class("YourCNN", module="hw.cnn")(tuple(in_size), num_classes)
    if not isinstance(model, torch.nn.Module):
        raise StudentError("YourCNN is not a torch.nn.Module")
    check_no_hooks(model)
    check_no_pretraining(model, construction, images)
    check_buffers(model)
    return model


def check_buffers(model):
    """A network's buffers are the running statistics of torch.nn's layers, never values a class of its own keeps."""
    for name, module in model.named_modules():
        own = [b for b, value in module.named_buffers(recurse=False) if value is not None]
        if own and not type(module).__module__.startswith("torch.nn."):
            raise StudentError(f"YourCNN keeps buffers of its own ({name or 'YourCNN'}.{own[0]}): only torch.nn's layers' "
                               "running statistics may be buffers (values the recipe does not train are not a network)")  # fmt: skip


def drawn_parameters(in_size, num_classes, images, seed):
    """The parameters of a YourCNN built after torch.manual_seed(seed), by name."""
    torch.manual_seed(seed)
    return {name: p.detach().clone() for name, p in built_yourcnn(in_size, num_classes, images).named_parameters()}


def check_random_start(in_size, num_classes, images, seed):
    """
    A network starts from values drawn at random: built under two seeds, every
    parameter that is not a constant (zeros, ones) differs. Values written in
    the code (weights trained elsewhere) are the same whatever the seed.
    """
    first, second = (drawn_parameters(in_size, num_classes, images, s) for s in (seed + 1, seed + 2))
    pairs = [(name, a, second[name]) for name, a in first.items() if name in second and second[name].shape == a.shape
             and a.numel() > 1 and not bool((a == a.flatten()[0]).all())]  # fmt: skip
    # Tensors of a few elements (a bias of 6) correlate by chance: each tensor is judged from SAME_START_MIN elements,
    # and all of them together (the knowledge could be spread over small ones).
    judged = [(name, a, b) for name, a, b in pairs if a.numel() >= SAME_START_MIN]
    if pairs:
        judged.append(("parameters, all together,", torch.cat([a.flatten() for _, a, _ in pairs]),
                       torch.cat([b.flatten() for _, _, b in pairs])))  # fmt: skip
    for name, a, b in judged:
        a, b = a.flatten().double(), b.flatten().double()
        a, b = a - a.mean(), b - b.mean()
        norms = a.norm() * b.norm()
        if norms > 0 and abs(float(a @ b / norms)) > SAME_START:
            verb = "start" if name.endswith(",") else "starts"
            raise StudentError(f"YourCNN's {name} {verb} from the same values whatever the random seed: a network "
                               "starts from random values and learns from the recipe's training alone")  # fmt: skip


SAME_START = 0.5  # correlation of two random initialisations: about 0, with a spread of 1/sqrt(elements)
SAME_START_MIN = 256  # elements: two random draws correlate above 0.5 once in ~10^15 (8 standard deviations)


PROBES = {
    f.__name__: f
    for f in (
        layer_pass,
        conv_output_shape,
        module_pass,
        linear_attributes,
        sequential_pass,
        mlp_structure,
        mlp_loss_pass,
        optimizer_steps,
        optimizer_zero_grad,
        trainer_epoch,
        trainer_fit,
        hyperparameters,
        written_answers,
        architecture_pass,
        construction_error,
        classifier_pass,
        roc_threshold,
        yourcnn_train,
    )
}
