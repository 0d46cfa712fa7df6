"""
Numerical gradients by centred differences, to check a hand-written backward pass.

Provided as is. A numerical gradient needs no calculus and no autograd, only
two evaluations of the function per input element, so it is slow: use it on
small inputs, in float64 (float32 rounding swamps a difference over h = 1e-5).
"""
import torch


def eval_numerical_gradient(f, x, h=1e-5, verbose=False):
    """
    The gradient of a scalar function at x: df/dx[i] ~ (f(x + h e_i) - f(x - h e_i)) / (2h).

    Inputs:
    - f: a function of no argument that returns a scalar (a float or a
      0-dimensional tensor) computed from x; x is changed in place.
    - x: the tensor to differentiate with respect to, of any shape.
    - h: the step.
    - verbose: print every partial derivative.

    Returns:
    - grad: tensor of the same shape as x.
    """
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    for i in range(flat_x.numel()):
        original = flat_x[i].item()
        flat_x[i] = original + h
        plus = float(f())
        flat_x[i] = original - h
        minus = float(f())
        flat_x[i] = original
        flat_grad[i] = (plus - minus) / (2 * h)
        if verbose:
            print(i, flat_grad[i].item())
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """
    The gradient of <f(x), df> at x, for a function f whose output is a tensor:
    what a backward pass returns when it receives the upstream gradient df.

    Inputs:
    - f: a function of one argument (x) that returns a tensor computed from x;
      x is changed in place between calls.
    - x: the input tensor, of any shape.
    - df: the upstream gradient, the shape of f(x).
    - h: the step.

    Returns:
    - grad: tensor of the same shape as x, grad[i] = sum(df * d f(x) / d x[i]).
    """
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    for i in range(flat_x.numel()):
        original = flat_x[i].item()
        flat_x[i] = original + h
        plus = f(x).clone()
        flat_x[i] = original - h
        minus = f(x).clone()
        flat_x[i] = original
        flat_grad[i] = ((plus - minus) * df).sum() / (2 * h)
    return grad


def rel_error(x, y):
    """
    The relative error of two tensors of the same shape: their largest
    difference over their largest magnitudes,

        max |x - y| / max(1e-8, max |x| + max |y|),

    about 1e-9 or less for a correct float64 gradient, 1e-2 or more for a
    wrong one. Measured against the whole tensor's scale, not element by
    element, so that the rounding error of a near-zero element of a correct
    gradient does not look like a mistake.
    """
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    if x.shape != y.shape:
        # Broadcasting would compare, say, (N, 1) with (N,) element by element and report nonsense.
        raise ValueError(f"rel_error compares tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    return ((x - y).abs().max() / (x.abs().max() + y.abs().max()).clamp(min=1e-8)).item()
