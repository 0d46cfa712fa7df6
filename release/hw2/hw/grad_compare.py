"""
Compares the gradients of a Layer's hand-written backward() with PyTorch's autograd.

Provided as is: read it, it shows what autograd does for you.
"""
from pathlib import Path

import torch

from hw.layers import Layer


def compare_layer_to_torch(layer: Layer, x, y=None, seed=42, verbose=True):
    """
    Runs ``layer`` forward and backward twice, once with its own backward()
    and once with autograd, and returns the differences of the gradients.

    Inputs:
    - layer: the Layer to check.
    - x: input tensor, e.g. of shape (N, D).
    - y: labels of shape (N,) for a layer that ends with a loss, else None.
    - seed: the random seed set before each forward pass, so that random
      layers such as Dropout draw the same mask both times.
    - verbose: print one line per compared gradient.

    Returns:
    - diffs: list of norms ||autograd - yours||, first for the input, then one
      per parameter in the order of layer.params(). A correct layer gives 0
      (up to float rounding).
    """
    for p, dp in layer.params():
        dp.zero_()

    torch.manual_seed(seed)
    z = layer(x, y=y)
    dz = torch.randn(*z.shape) if z.dim() > 0 else torch.tensor(1.0)
    dx = layer.backward(dz)

    # Re-run the forward pass on leaf copies that track gradients, so the
    # caller's tensors and the layer's parameters are left untouched.
    x_autograd = x.detach().clone().requires_grad_(True)
    originals = [p.data.clone() for p, _ in layer.params()]
    for p, _ in layer.params():
        p.requires_grad_(True)
    try:
        torch.manual_seed(seed)
        z = layer(x_autograd, y=y)
        z.backward(dz)
        diffs = [torch.norm(x_autograd.grad - dx).item()]
        if verbose:
            print("Comparing gradients...")
            print(f'{"input":8s} diff={diffs[-1]:.3f}')
        for i, (p, dp) in enumerate(layer.params()):
            diffs.append(torch.norm(p.grad - dp).item())
            if verbose:
                print(f"param#{i + 1:02d} diff={diffs[-1]:.3f}")
    finally:
        for (p, _), original in zip(layer.params(), originals):
            p.requires_grad_(False)
            p.grad = None
            p.data.copy_(original)
    return diffs


def load_asset(name):
    """
    Loads reference tensors from the ``tests/assets`` folder next to the
    ``hw`` package (shipped with the assignment).

    Inputs:
    - name: file name, e.g. "part1_reference.pt".

    Returns:
    - The stored object: a dict of tensors, numbers and lists.
    """
    path = Path(__file__).resolve().parent.parent / "tests" / "assets" / name
    if not path.exists():
        raise FileNotFoundError(f"Reference file {path} is missing: it ships with the assignment, restore it.")
    return torch.load(path, weights_only=True)
