"""
Trusted probes of Part 3 (convolution): the output shape of a convolution, and MyConv2d-style torch modules.

Sent to the worker after probes.py and run in the same module: it uses
probes.py's helpers and adds its probes to PROBES. Like probes.py, it
imports nothing else of the repository.
"""

import torch

# In the worker, "probes" is the module this text runs in (course/grading/worker.py, load_probes).
from probes import PROBES, StudentError, module_rules, plain_tensor, student_class, under


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


PROBES.update({f.__name__: f for f in (conv_output_shape, module_pass)})
