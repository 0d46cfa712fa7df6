"""
Convolutional networks as torch.nn.Modules (trained with autograd).

Part 3 starts it with our own fully connected and convolution modules,
written without nn.Linear / nn.Conv2d / F.linear / F.conv2d, whose
parameters have the same names and shapes as PyTorch's: a state dict of
nn.Linear / nn.Conv2d loads into them as it is.
"""
import math

import torch
from torch import nn

from torch.nn.modules.utils import _pair


class MyLinear(nn.Module):
    """
    Fully connected layer, out = x @ weight.T + bias, like nn.Linear.

    Parameters: weight (out_features, in_features) and bias (out_features,),
    initialised like nn.Linear's: U(-k, k) with k = 1 / sqrt(in_features).
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # TODO: Create self.weight and self.bias (or self.bias = None when
        #  bias is False) as nn.Parameter tensors, initialised as above.
        ### BEGIN SOLUTION
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None
        ### END SOLUTION

    def forward(self, x):
        """
        Inputs:
        - x: input of shape (N, in_features).

        Returns:
        - out: output of shape (N, out_features).
        """
        # TODO: Compute the affine map with a matrix multiplication.
        ### BEGIN SOLUTION
        out = x @ self.weight.T
        if self.bias is not None:
            out = out + self.bias
        ### END SOLUTION
        return out

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class MyConv2d(nn.Module):
    """
    2D convolution like nn.Conv2d (the same formula as hw.layers.Conv2d), with
    autograd computing the backward pass.

    Parameters: weight (out_channels, in_channels, kH, kW) and bias
    (out_channels,), initialised like nn.Conv2d's: U(-k, k) with
    k = 1 / sqrt(in_channels * kH * kW).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        # TODO: Create self.weight and self.bias (None when bias is False) as
        #  nn.Parameter tensors, initialised as above.
        ### BEGIN SOLUTION
        kh, kw = self.kernel_size
        bound = 1 / math.sqrt(in_channels * kh * kw)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None
        ### END SOLUTION

    def forward(self, x):
        """
        Inputs:
        - x: input of shape (N, in_channels, H, W).

        Returns:
        - out: output of shape (N, out_channels, H', W'), H' = (H + 2P - kH) // S + 1.
        """
        # TODO: Pad x, take every kH x kW window (x.unfold slides a window
        #  along one dimension) and contract the windows with the weights
        #  (torch.einsum or a matrix multiplication); add the bias.
        ### BEGIN SOLUTION
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        xpad = nn.functional.pad(x, (pw, pw, ph, ph))
        windows = xpad.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, C_in, H', W', kH, kW)
        out = torch.einsum("nchwuv,dcuv->ndhw", windows, self.weight)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        ### END SOLUTION
        return out

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )


class LeNet(nn.Module):
    """
    Provided: a LeNet-style classifier built either from
    PyTorch's layers or from ours, with the same parameter names, so that one
    trained network's state dict loads into the other:

        conv 5x5 (8) -> ReLU -> max pool 2 -> conv 5x5 (16) -> ReLU -> max pool 2
        -> flatten -> linear 128 -> ReLU -> linear 64 -> ReLU -> linear num_classes

    Inputs:
    - in_channels, image_size: the input images, (N, in_channels, image_size, image_size).
    - num_classes: the number of classes.
    - own_layers: use MyConv2d / MyLinear instead of nn.Conv2d / nn.Linear.
    """

    def __init__(self, in_channels=3, image_size=32, num_classes=10, own_layers=False):
        super().__init__()
        conv, linear = (MyConv2d, MyLinear) if own_layers else (nn.Conv2d, nn.Linear)
        side = ((image_size - 4) // 2 - 4) // 2
        self.features = nn.Sequential(
            conv(in_channels, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
            conv(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(),
            linear(16 * side * side, 128), nn.ReLU(),
            linear(128, 64), nn.ReLU(),
            linear(64, num_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.classifier(self.features(x))
