"""
Trusted probes of Part 1 (layers and backpropagation): a layer's forward and backward pass, a Sequential of them, the MLP.

layer_pass and sequential_pass also probe Part 3's layers.

Sent to the worker after probes.py and run in the same module: it uses
probes.py's helpers and adds its probes to PROBES. Like probes.py, it
imports nothing else of the repository.
"""

import torch

# In the worker, "probes" is the module this text runs in (course/grading/worker.py, load_probes).
from probes import (PROBES, StudentError, backward_by_hand, build, by_hand, forward, grads_of, params_of, plain_tensor,
                    set_params, student_class)


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


PROBES.update({f.__name__: f for f in (layer_pass, linear_attributes, sequential_pass, mlp_structure, mlp_loss_pass)})
