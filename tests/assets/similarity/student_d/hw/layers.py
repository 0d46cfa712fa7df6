"""
Layers with hand-written backward passes: a "poor man's autograd".

Every layer follows one API (the one PyTorch splits between ``nn.Module`` and
``autograd.Function``):

- ``forward(x, **kw)`` computes the output and caches what ``backward`` needs;
- ``backward(dout)`` takes dL/d(output) and returns dL/d(input), and *adds*
  (``+=``) the gradients of the layer's parameters into their gradient tensors;
- ``params()`` lists ``(tensor, gradient)`` pairs of the trainable parameters;
- ``train(mode)`` switches between training and evaluation behaviour.

Inside a ``backward`` you may use any tensor operation, but not autograd:
computing the gradients by hand is the point of the exercise.
"""
import abc
import functools

import torch


class Layer(abc.ABC):
    """
    A computation element of a network that knows its own gradient.

    Subclasses implement ``forward`` and ``backward``; layers with trainable
    parameters also override ``params``.
    """

    def __init__(self):
        # Values saved by forward() for use by backward().
        self.grad_cache = {}
        self.training_mode = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    @abc.abstractmethod
    def forward(self, *args, **kwargs):
        """
        Computes the forward pass of the layer.

        Inputs:
        - args: the computation arguments (layer specific), e.g. x of shape (N, D).
        - kwargs: extra keyword arguments, such as the labels ``y`` that only
          a loss uses; other layers accept and ignore them.

        Returns:
        - The result of the computation.
        """

    @abc.abstractmethod
    def backward(self, dout):
        """
        Computes the backward pass of the layer.

        Inputs:
        - dout: gradient of the loss with respect to the output of this layer,
          same shape as the output of ``forward``.

        Returns:
        - dx: gradient of the loss with respect to the first input of
          ``forward``, same shape as that input.

        Gradients of the parameters are *accumulated* into the gradient tensors
        returned by ``params()`` (``dw += ...``), never assigned.
        """

    def params(self):
        """
        Returns:
        - A list of ``(parameter, gradient)`` tuples, one per trainable tensor,
          each gradient of the same shape as its parameter. Empty by default.
        """
        return []

    def train(self, training_mode=True):
        """
        Switches between training mode (True) and evaluation mode (False).
        Layers such as Dropout behave differently in each.
        """
        self.training_mode = training_mode

    def buffers(self):
        """
        Returns:
        - A list of the tensors that are state but not trained (such as
          BatchNorm2d's running averages): a checkpoint must keep them too.
          Empty by default.
        """
        return []

    def state_dict(self):
        """
        Returns:
        - Copies of the parameters, in ``params()`` order, then of the buffers,
          in ``buffers()`` order (what a checkpoint saves).
        """
        return [param.detach().clone() for param, _ in self.params()] + [buf.clone() for buf in self.buffers()]

    def load_state_dict(self, state):
        """
        Copies the tensors of ``state_dict()`` back into the parameters and
        buffers, in place. A list of the parameters alone is accepted too (the
        buffers are then left as they are).
        """
        tensors = [param for param, _ in self.params()]
        if len(state) == len(tensors) + len(self.buffers()):
            tensors += self.buffers()
        elif len(state) != len(tensors):
            raise ValueError(f"{self!r} has {len(tensors)} parameters and {len(self.buffers())} buffers, "
                             f"the state holds {len(state)} tensors")  # fmt: skip
        for tensor, value in zip(tensors, state):
            tensor.copy_(value)

    def double(self):
        """
        Provided: converts this layer's tensors (parameters, gradients, running
        statistics) and those of the layers it contains to float64, for
        numerical gradient checks. Returns the layer.
        """
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.double())
            elif isinstance(value, Layer):
                value.double()
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, Layer):
                        item.double()
        return self

    def __repr__(self):
        return self.__class__.__name__


class LeakyReLU(Layer):
    """
    Leaky rectified linear unit: relu(x) = max(alpha * x, x), elementwise.
    """

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        if not 0 <= alpha < 1:
            raise ValueError(f"LeakyReLU needs 0 <= alpha < 1, got alpha={alpha}")
        self.alpha = alpha

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input tensor of any shape, e.g. (N, D).

        Returns:
        - out: tensor of the same shape as x.
        """
        self.grad_cache["x"] = x
        return torch.where(x >= 0, x, self.alpha * x)

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x: dout where x > 0, alpha * dout elsewhere.
        """
        slope = torch.full_like(dout, self.alpha)
        slope[self.grad_cache["x"] > 0] = 1
        return dout * slope

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


class ReLU(LeakyReLU):
    """
    Rectified linear unit: relu(x) = max(0, x), a LeakyReLU with alpha = 0.
    """

    def __init__(self):
        LeakyReLU.__init__(self, alpha=0)

    def __repr__(self):
        return "ReLU"


class Sigmoid(Layer):
    """
    Logistic sigmoid: sigma(x) = 1 / (1 + exp(-x)), elementwise.
    """

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input tensor of any shape, e.g. (N, D) or (N, H, W).

        Returns:
        - out: tensor of the same shape as x, values in (0, 1).
        """
        # exp(-softplus(-x)): never overflows
        self.grad_cache["s"] = s = torch.exp(-torch.logaddexp(torch.zeros_like(x), -x))
        return s

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x: dout * sigma(x) * (1 - sigma(x)).
        """
        s = self.grad_cache["s"]
        return dout * (s - s * s)


class TanH(Layer):
    """
    Hyperbolic tangent: tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)).
    """

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input tensor of any shape, e.g. (N, D) or (N, H, W).

        Returns:
        - out: tensor of the same shape as x, values in (-1, 1).
        """
        self.grad_cache["t"] = t = torch.tanh(x)
        return t

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x: dout * (1 - tanh(x)^2).
        """
        return dout * (1 - self.grad_cache["t"].pow(2))


class Linear(Layer):
    """
    Fully connected (affine) layer: out = x @ w.T + b.
    """

    def __init__(self, in_features: int, out_features: int, wstd: float = 0.1):
        """
        Inputs:
        - in_features: number of input features D_in.
        - out_features: number of output features D_out.
        - wstd: standard deviation of the normal distribution (mean 0) that
          initialises the weights and the bias.
        """
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features

        self.w = torch.normal(0.0, wstd, size=(out_features, in_features))
        self.b = torch.normal(0.0, wstd, size=(out_features,))
        self.dw, self.db = torch.zeros_like(self.w), torch.zeros_like(self.b)

    def params(self):
        return [(self.w, self.dw), (self.b, self.db)]

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of shape (N, D_in).

        Returns:
        - out: output of shape (N, D_out), out = x @ w.T + b.
        """
        self.grad_cache["x"] = x
        return torch.addmm(self.b, x, self.w.T)

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, shape (N, D_out).

        Returns:
        - dx: gradient with respect to x, shape (N, D_in).

        Also accumulates dw (D_out, D_in) and db (D_out,): use += so that
        gradients of several backward passes add up until they are zeroed.
        """
        self.dw += dout.T @ self.grad_cache["x"]
        self.db += dout.sum(0)
        return dout @ self.w

    def __repr__(self):
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"


class CrossEntropyLoss(Layer):
    """
    Mean cross-entropy of class scores and integer labels:

        loss = 1/N * sum_i ( -x[i, y_i] + log(sum_k exp(x[i, k])) )

    It must stay finite for scores of magnitude 1e4, where exp() overflows.
    """

    def forward(self, x, y, **kw):
        """
        Inputs:
        - x: class scores of shape (N, C); row i holds the scores of sample i.
        - y: labels of shape (N,), integers in [0, C).

        Returns:
        - loss: a scalar tensor (shape ()), the mean loss over the batch.
        """
        rows = torch.arange(len(y))
        top = x.max(dim=1, keepdim=True)[0]
        logz = top.squeeze(1) + (x - top).exp().sum(dim=1).log()
        self.grad_cache.update(x=x, y=y, logz=logz)
        return (logz - x[rows, y]).mean()

    def backward(self, dout=1.0):
        """
        Inputs:
        - dout: gradient with respect to the scalar loss (1.0 by default).

        Returns:
        - dx: gradient with respect to the scores x, shape (N, C):
          dout * (softmax(x) - onehot(y)) / N.
        """
        x, y, logz = self.grad_cache["x"], self.grad_cache["y"], self.grad_cache["logz"]
        onehot = torch.zeros_like(x)
        onehot[torch.arange(len(y)), y] = 1
        return dout * (torch.exp(x - logz[:, None]) - onehot) / len(y)


class Dropout(Layer):
    """
    Inverted dropout: in training mode each element is zeroed with
    probability p and the survivors are scaled by 1 / (1 - p), so that the
    expected output equals the input; in evaluation mode it is the identity.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout needs 0 <= p < 1, got p={p}")
        self.p = p

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input tensor of any shape, e.g. (N, D).

        Returns:
        - out: tensor of the same shape as x.
        """
        if self.training_mode:
            self.grad_cache["mask"] = (torch.rand_like(x) > self.p) / (1 - self.p)
        else:
            self.grad_cache["mask"] = torch.ones_like(x)
        return x * self.grad_cache["mask"]

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x, using the mask of the last forward.
        """
        return dout * self.grad_cache["mask"]

    def __repr__(self):
        return f"Dropout(p={self.p})"


class Sequential(Layer):
    """
    A Layer that applies other layers in sequence, like torch.nn.Sequential.
    """

    def __init__(self, *layers):
        super().__init__()
        self.layers = layers

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of the first layer.
        - kw: keyword arguments (such as ``y``) passed to every layer.

        Returns:
        - out: output of the last layer.
        """
        return functools.reduce(lambda h, layer: layer(h, **kw), self.layers, x)

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output of the last layer.

        Returns:
        - din: gradient with respect to the input of the first layer.
        """
        return functools.reduce(lambda g, layer: layer.backward(g), reversed(self.layers), dout)

    def params(self):
        """
        Returns:
        - The parameters of all layers, in layer order.
        """
        return [pair for layer in self.layers for pair in layer.params()]

    def buffers(self):
        return [buf for layer in self.layers for buf in layer.buffers()]

    def train(self, training_mode=True):
        super().train(training_mode)
        for child in self.layers:
            child.train(training_mode)

    def __getitem__(self, item):
        return self.layers[item]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        lines = [f"  [{i}] {layer}" for i, layer in enumerate(self.layers)]
        return "\n".join([f"{self.__class__.__name__}("] + lines + [")"])


ACTIVATIONS = {"relu": ReLU, "lrelu": LeakyReLU, "sigmoid": Sigmoid, "tanh": TanH}


class MLP(Layer):
    """
    A multilayer perceptron for classification:

        Linear(D, h_1) -> act -> [Dropout] -> ... -> Linear(h_{L-1}, h_L)
        -> act -> [Dropout] -> Linear(h_L, C)

    Dropout layers appear after each activation only when dropout > 0.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden_features=(),
        activation: str = "relu",
        dropout: float = 0.0,
        wstd: float = 0.1,
    ):
        """
        Inputs:
        - in_features: number of input features D.
        - num_classes: number of classes C (size of the output).
        - hidden_features: sizes h_1, ..., h_L of the hidden layers (may be empty).
        - activation: one of 'relu', 'lrelu', 'sigmoid', 'tanh'.
        - dropout: drop probability of the Dropout after each activation;
          0 means no Dropout layers.
        - wstd: weight initialisation scale passed to every Linear.
        """
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {activation!r}: expected one of {sorted(ACTIVATIONS)}"
            )
        self.in_features = in_features
        self.num_classes = num_classes

        dims = [in_features, *hidden_features]
        layers = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [Linear(d_in, d_out, wstd), ACTIVATIONS[activation]()]
            if dropout:
                layers.append(Dropout(dropout))
        self.sequence = Sequential(*layers, Linear(dims[-1], num_classes, wstd))

    def forward(self, x, **kw):
        return self.sequence(x, **kw)

    def backward(self, dout):
        return self.sequence.backward(dout)

    def params(self):
        return self.sequence.params()

    def buffers(self):
        return self.sequence.buffers()

    def train(self, training_mode=True):
        super().train(training_mode)
        self.sequence.train(training_mode)

    def __repr__(self):
        return f"MLP, {self.sequence}"


# -- Part 3: convolution, pooling and batch normalization ----------------------


def _pair(value):
    """(value, value) for an int, the value itself for a pair: kernel_size=3 means (3, 3)."""
    if isinstance(value, int):
        return (value, value)
    pair = tuple(value)
    if len(pair) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {value!r}")
    return pair


def window_output_size(size, kernel, stride, padding):
    """
    The number of positions of a window sliding over one axis:

        out = (size + 2 * padding - kernel) // stride + 1

    Inputs:
    - size: the input length along the axis (H or W).
    - kernel, stride, padding: the window's length, step and zero padding.

    Returns:
    - out: an int >= 1; a ValueError when the window is larger than the padded input.
    """
    padded = size + 2 * padding
    if kernel > padded:
        raise ValueError(f"a window of {kernel} does not fit in {size} (padding {padding})")
    return 1 + (padded - kernel) // stride


class Conv2d(Layer):
    """
    2D convolution of a batch of images, as torch.nn.Conv2d computes it
    (a cross-correlation: the kernel is not flipped):

        out[n, d, i, j] = b[d] + sum_{c, u, v} w[d, c, u, v] * xpad[n, c, S*i + u, S*j + v]

    where xpad is x with P zeros added on each side of H and W. Output size
    per axis: H' = (H + 2P - K) // S + 1.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        """
        Inputs:
        - in_channels: C_in, channels of the input.
        - out_channels: C_out, number of filters.
        - kernel_size, stride, padding: an int, or a pair (for H, W).
        - bias: whether the layer has a bias b.
        """
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)

        bound = (in_channels * self.kernel_size[0] * self.kernel_size[1]) ** -0.5
        uniform = lambda *shape: torch.empty(*shape).uniform_(-bound, bound)
        self.w = uniform(out_channels, in_channels, *self.kernel_size)
        self.dw = torch.zeros_like(self.w)
        self.b = uniform(out_channels) if bias else None
        self.db = torch.zeros_like(self.b) if bias else None

    def params(self):
        if self.b is None:
            return [(self.w, self.dw)]
        return [(self.w, self.dw), (self.b, self.db)]

    def output_shape(self, input_shape):
        """
        Inputs:
        - input_shape: (N, C_in, H, W).

        Returns:
        - (N, C_out, H', W'), a tuple of ints, with H' = (H + 2P - kH) // S + 1
          and W' likewise.
        """
        n, _, *spatial = input_shape
        sizes = [window_output_size(*axis) for axis in zip(spatial, self.kernel_size, self.stride, self.padding)]
        return (n, self.out_channels, *sizes)

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of shape (N, C_in, H, W).

        Returns:
        - out: output of shape (N, C_out, H', W').
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r} expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        (ph, pw), (h, w) = self.padding, x.shape[2:]
        xp = x.new_zeros(*x.shape[:2], h + 2 * ph, w + 2 * pw)
        xp[..., ph:ph + h, pw:pw + w] = x
        cols = _windows(xp, self.kernel_size, self.stride)  # (N, C, H', W', kH, kW)
        self.grad_cache.update(x_shape=x.shape, cols=cols, xp_shape=xp.shape)
        out = torch.einsum("nchwuv,dcuv->ndhw", cols, self.w)
        return out if self.b is None else out + self.b[None, :, None, None]

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, shape (N, C_out, H', W').

        Returns:
        - dx: gradient with respect to x, shape (N, C_in, H, W).

        Also accumulates dw (C_out, C_in, kH, kW) and db (C_out,) with +=:
        dw[d, c, u, v] = sum_{n, i, j} dout[n, d, i, j] * xpad[n, c, S*i + u, S*j + v],
        db[d] = sum_{n, i, j} dout[n, d, i, j]; and every input pixel
        receives dout * w from each output it contributed to.
        """
        cols = self.grad_cache["cols"]
        self.dw += torch.einsum("ndhw,nchwuv->dcuv", dout, cols)
        if self.b is not None:
            self.db += dout.sum((0, 2, 3))
        dcols = torch.einsum("ndhw,dcuv->nchwuv", dout, self.w)
        dxp = dout.new_zeros(self.grad_cache["xp_shape"])
        (kh, kw), (sh, sw), (ho, wo) = self.kernel_size, self.stride, dout.shape[2:]
        for u in range(kh):
            for v in range(kw):
                dxp[:, :, u:u + sh * ho:sh, v:v + sw * wo:sw] += dcols[..., u, v]
        (ph, pw), (h, w) = self.padding, self.grad_cache["x_shape"][2:]
        return dxp[:, :, ph:ph + h, pw:pw + w]

    def __repr__(self):
        return (
            f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.b is not None})"
        )


def _windows(x, kernel_size, stride):
    """
    A view of every pooling window of x (no copy), of shape
    (N, C, H', W', kH, kW): windows[n, c, i, j] = x[n, c, S*i : S*i + kH, S*j : S*j + kW].
    Provided: torch.Tensor.unfold slides a window along one axis.
    """
    (kh, kw), (sh, sw) = kernel_size, stride
    return x.unfold(2, kh, sh).unfold(3, kw, sw)


class MaxPool2d(Layer):
    """
    Max pooling over windows of kH x kW pixels taken every S pixels, each
    channel on its own:

        out[n, c, i, j] = max_{u, v} xpad[n, c, S*i + u, S*j + v]

    where xpad is x padded by P pixels of -inf (so padding is never the max).
    The gradient of each output goes to the one input that was the max: the
    first one, in row-major order within the window, when several are equal
    (as in PyTorch).
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        """
        Inputs:
        - kernel_size: an int or a pair (kH, kW).
        - stride: an int or a pair; None (the default) means the kernel size.
        - padding: an int or a pair, at most half the kernel size.
        """
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = self.kernel_size if stride is None else _pair(stride)
        self.padding = _pair(padding)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"padding {self.padding} must be at most half the kernel size {self.kernel_size}")

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of shape (N, C, H, W).

        Returns:
        - out: output of shape (N, C, H', W'), H' = (H + 2P - kH) // S + 1.
        """
        (ph, pw), (h, w) = self.padding, x.shape[2:]
        xp = x.new_full((*x.shape[:2], h + 2 * ph, w + 2 * pw), -float("inf"))
        xp[:, :, ph:ph + h, pw:pw + w] = x
        out, arg = _windows(xp, self.kernel_size, self.stride).flatten(-2).max(-1)
        self.grad_cache.update(arg=arg, x_shape=x.shape, xp_shape=xp.shape)
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, shape (N, C, H', W').

        Returns:
        - dx: gradient with respect to x, shape (N, C, H, W): each dout[n, c, i, j]
          added to the input that was the max of its window (windows may overlap,
          so an input can receive several).
        """
        arg = self.grad_cache["arg"]
        (kh, kw), (sh, sw), (ho, wo) = self.kernel_size, self.stride, arg.shape[-2:]
        rows = (torch.arange(ho) * sh)[:, None] + arg // kw
        cols = (torch.arange(wo) * sw)[None, :] + arg % kw
        hp, wp = self.grad_cache["xp_shape"][-2:]
        dxp = dout.new_zeros(*arg.shape[:2], hp * wp)
        dxp.scatter_add_(2, (rows * wp + cols).flatten(2), dout.flatten(2))
        (ph, pw), (h, w) = self.padding, self.grad_cache["x_shape"][2:]
        return dxp.view(*arg.shape[:2], hp, wp)[:, :, ph:ph + h, pw:pw + w]

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class AvgPool2d(MaxPool2d):
    """
    Average pooling: the mean of every window instead of its max,

        out[n, c, i, j] = 1 / (kH * kW) * sum_{u, v} xpad[n, c, S*i + u, S*j + v],

    with xpad padded by zeros that count in the mean (PyTorch's default,
    count_include_pad=True). Each input receives dout / (kH * kW) from every
    window it belongs to.
    """

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of shape (N, C, H, W).

        Returns:
        - out: output of shape (N, C, H', W').
        """
        (ph, pw), (h, w) = self.padding, x.shape[2:]
        xp = x.new_zeros(*x.shape[:2], h + 2 * ph, w + 2 * pw)
        xp[:, :, ph:ph + h, pw:pw + w] = x
        self.grad_cache["x_shape"] = x.shape
        return _windows(xp, self.kernel_size, self.stride).mean((-1, -2))

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, shape (N, C, H', W').

        Returns:
        - dx: gradient with respect to x, shape (N, C, H, W).
        """
        n, c, h, w = self.grad_cache["x_shape"]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        dxp = dout.new_zeros(n, c, h + 2 * ph, w + 2 * pw)
        ho, wo = dout.shape[-2:]
        for u in range(kh):
            for v in range(kw):
                dxp[:, :, u:u + sh * ho:sh, v:v + sw * wo:sw] += dout / (kh * kw)
        return dxp[:, :, ph:ph + h, pw:pw + w]

    def __repr__(self):
        return f"AvgPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class Flatten(Layer):
    """Reshapes (N, C, H, W) (or any (N, ...)) to (N, C*H*W), as torch.nn.Flatten does."""

    def forward(self, x, **kw):
        self.grad_cache["shape"] = x.shape
        return x.flatten(1)

    def backward(self, dout):
        return dout.view(self.grad_cache["shape"])


class BatchNorm2d(Layer):
    """
    Batch normalization of each channel over the batch and the pixels:

        out = gamma * (x - mean) / sqrt(var + eps) + beta

    In training mode mean and var are the batch's (per channel, over N, H, W;
    var is the biased variance), and the running averages are updated as
    running = (1 - momentum) * running + momentum * batch value (with the
    unbiased variance for running_var, as in PyTorch). In evaluation mode the
    running averages are used instead and not updated.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        """
        Inputs:
        - num_features: C, the number of channels.
        - eps: added to the variance for numerical stability.
        - momentum: weight of the newest batch in the running averages.
        """
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        c = num_features
        self.gamma, self.beta = torch.ones(c), torch.zeros(c)
        self.dgamma, self.dbeta = torch.zeros(c), torch.zeros(c)
        self.running_mean, self.running_var = torch.zeros(c), torch.ones(c)

    def params(self):
        return [(self.gamma, self.dgamma), (self.beta, self.dbeta)]

    def buffers(self):
        return [self.running_mean, self.running_var]

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of shape (N, C, H, W).

        Returns:
        - out: output of the same shape.
        """
        axes, shape = (0, 2, 3), (1, -1, 1, 1)
        if self.training_mode:
            mu, var = x.mean(axes), x.var(axes, unbiased=False)
            m = x.numel() / x.shape[1]
            self.running_mean.lerp_(mu, self.momentum)
            self.running_var.lerp_(var * m / (m - 1), self.momentum)
        else:
            mu, var = self.running_mean, self.running_var
        inv = (var + self.eps).rsqrt()
        xhat = (x - mu.view(shape)) * inv.view(shape)
        self.grad_cache.update(xhat=xhat, inv=inv, batch=self.training_mode)
        return xhat * self.gamma.view(shape) + self.beta.view(shape)

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, shape (N, C, H, W).

        Returns:
        - dx: gradient with respect to x, same shape. In training mode the
          batch mean and variance depend on x too: with M = N * H * W and
          x_hat the normalised input,
          dx = gamma / sqrt(var + eps) / M * (M * dout - sum(dout) - x_hat * sum(dout * x_hat)),
          the sums per channel. In evaluation mode, dx = gamma / sqrt(var + eps) * dout.

        Also accumulates dgamma = sum(dout * x_hat) and dbeta = sum(dout), per channel.
        """
        xhat, inv = self.grad_cache["xhat"], self.grad_cache["inv"]
        axes, shape = (0, 2, 3), (1, -1, 1, 1)
        self.dbeta += dout.sum(axes)
        self.dgamma += (dout * xhat).sum(axes)
        scale = (self.gamma * inv).view(shape)
        if not self.grad_cache["batch"]:
            return scale * dout
        # the mean of dx over the channel is zero, and so is its projection on xhat
        return scale * (dout - dout.mean(axes, keepdim=True) - xhat * (dout * xhat).mean(axes, keepdim=True))

    def __repr__(self):
        return f"BatchNorm2d({self.num_features}, eps={self.eps}, momentum={self.momentum})"
