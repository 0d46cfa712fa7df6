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
        positive = x > 0
        out = torch.where(positive, x, self.alpha * x)
        self.grad_cache["positive"] = positive
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x: dout where x > 0, alpha * dout elsewhere.
        """
        positive = self.grad_cache["positive"]
        # slope is 1 on the positive side, alpha elsewhere (also exactly at 0)
        dx = torch.where(positive, dout, self.alpha * dout)
        return dx

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


class ReLU(LeakyReLU):
    """
    Rectified linear unit: relu(x) = max(0, x), a LeakyReLU with alpha = 0.
    """

    def __init__(self):
        super().__init__(alpha=0.0)

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
        # exp(-x) may overflow to inf for very negative x, which still gives 0.
        out = 1.0 / (1.0 + torch.exp(-x))
        self.grad_cache["sig"] = out
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x: dout * sigma(x) * (1 - sigma(x)).
        """
        sig = self.grad_cache["sig"]
        dx = dout * sig * (1.0 - sig)
        return dx


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
        out = torch.tanh(x)
        self.grad_cache["th"] = out
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x: dout * (1 - tanh(x)^2).
        """
        th = self.grad_cache["th"]
        dx = dout * (1.0 - th * th)
        return dx


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

        self.w = wstd * torch.randn(out_features, in_features)
        self.b = wstd * torch.randn(out_features)
        self.dw = torch.zeros_like(self.w)
        self.db = torch.zeros_like(self.b)

    def params(self):
        return [(self.w, self.dw), (self.b, self.db)]

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of shape (N, D_in).

        Returns:
        - out: output of shape (N, D_out), out = x @ w.T + b.
        """
        self.grad_cache["inp"] = x
        out = x @ self.w.T + self.b
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, shape (N, D_out).

        Returns:
        - dx: gradient with respect to x, shape (N, D_in).

        Also accumulates dw (D_out, D_in) and db (D_out,): use += so that
        gradients of several backward passes add up until they are zeroed.
        """
        inp = self.grad_cache["inp"]
        self.dw += dout.T @ inp
        self.db += dout.sum(dim=0)
        dx = dout @ self.w
        return dx

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
        n_samples = x.shape[0]
        rows = torch.arange(n_samples)
        shifted = x - x.max(dim=1, keepdim=True).values   # every exponent <= 0
        exps = torch.exp(shifted)
        total = exps.sum(dim=1)
        per_sample = torch.log(total) - shifted[rows, y]
        loss = per_sample.mean()
        self.grad_cache["probs"] = exps / total.unsqueeze(1)
        self.grad_cache["labels"] = y
        return loss

    def backward(self, dout=1.0):
        """
        Inputs:
        - dout: gradient with respect to the scalar loss (1.0 by default).

        Returns:
        - dx: gradient with respect to the scores x, shape (N, C):
          dout * (softmax(x) - onehot(y)) / N.
        """
        probs = self.grad_cache["probs"]
        labels = self.grad_cache["labels"]
        n_samples = probs.shape[0]
        grad = probs.clone()
        grad[torch.arange(n_samples), labels] -= 1.0
        dx = dout * grad / n_samples
        return dx


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
        if not self.training_mode:
            self.grad_cache["scale"] = None
            return x
        keep = torch.rand_like(x) >= self.p          # kept with probability 1 - p
        scale = keep.to(x.dtype) / (1.0 - self.p)
        self.grad_cache["scale"] = scale
        out = x * scale
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x, using the mask of the last forward.
        """
        scale = self.grad_cache["scale"]
        dx = dout if scale is None else dout * scale
        return dx

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
        out = x
        for layer in self.layers:
            out = layer(out, **kw)
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output of the last layer.

        Returns:
        - din: gradient with respect to the input of the first layer.
        """
        din = dout
        for layer in reversed(self.layers):
            din = layer.backward(din)
        return din

    def params(self):
        """
        Returns:
        - The parameters of all layers, in layer order.
        """
        params = []
        for layer in self.layers:
            params.extend(layer.params())
        return params

    def buffers(self):
        return [buf for layer in self.layers for buf in layer.buffers()]

    def train(self, training_mode=True):
        super().train(training_mode)
        for layer in self.layers:
            layer.train(training_mode)

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

        widths = [in_features, *hidden_features]
        blocks = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            blocks.append(Linear(fan_in, fan_out, wstd=wstd))
            blocks.append(ACTIVATIONS[activation]())
            if dropout > 0:
                blocks.append(Dropout(dropout))
        blocks.append(Linear(widths[-1], num_classes, wstd=wstd))
        self.sequence = Sequential(*blocks)

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
        raise ValueError(f"window of size {kernel} does not fit in an input of size {size} "
                         f"padded by {padding} (padded size {padded})")
    return (padded - kernel) // stride + 1


def _pad_hw(x, pad_h, pad_w, fill=0.0):
    """x (N, C, H, W) surrounded by pad_h rows and pad_w columns of ``fill`` on each side."""
    if pad_h == 0 and pad_w == 0:
        return x
    n, c, h, w = x.shape
    big = x.new_full((n, c, h + 2 * pad_h, w + 2 * pad_w), fill)
    big[:, :, pad_h:pad_h + h, pad_w:pad_w + w] = x
    return big


def _crop_hw(x, pad_h, pad_w):
    """Undoes _pad_hw: drops the border rows and columns."""
    h, w = x.shape[2], x.shape[3]
    return x[:, :, pad_h:h - pad_h, pad_w:w - pad_w]


def _tap(xpad, u, v, out_h, out_w, stride):
    """
    The input pixels that kernel position (u, v) meets for every output pixel:
    a strided view of xpad of shape (N, C, out_h, out_w),
    tap[n, c, i, j] = xpad[n, c, S_h * i + u, S_w * j + v].
    """
    sh, sw = stride
    return xpad[:, :, u:u + sh * (out_h - 1) + 1:sh, v:v + sw * (out_w - 1) + 1:sw]


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

        kh, kw = self.kernel_size
        bound = 1.0 / (in_channels * kh * kw) ** 0.5
        self.w = (2 * torch.rand(out_channels, in_channels, kh, kw) - 1) * bound
        self.dw = torch.zeros_like(self.w)
        if bias:
            self.b = (2 * torch.rand(out_channels) - 1) * bound
            self.db = torch.zeros_like(self.b)
        else:
            self.b, self.db = None, None

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
        n, _, h, w = input_shape
        out_h = window_output_size(h, self.kernel_size[0], self.stride[0], self.padding[0])
        out_w = window_output_size(w, self.kernel_size[1], self.stride[1], self.padding[1])
        return (int(n), self.out_channels, out_h, out_w)

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of shape (N, C_in, H, W).

        Returns:
        - out: output of shape (N, C_out, H', W').
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r} expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        n = x.shape[0]
        _, _, out_h, out_w = self.output_shape(x.shape)
        xpad = _pad_hw(x, *self.padding)
        # im2col: one row per (sample, output pixel), one column per (c, u, v),
        # so that the whole layer is a single matrix product with the filters.
        patches = _windows(xpad, self.kernel_size, self.stride)            # (N, C, H', W', kH, kW)
        cols = patches.permute(0, 2, 3, 1, 4, 5).reshape(n * out_h * out_w, -1)
        filters = self.w.reshape(self.out_channels, -1)                   # (C_out, C*kH*kW)
        flat_out = cols @ filters.T                                        # (N*H'*W', C_out)
        if self.b is not None:
            flat_out = flat_out + self.b
        out = flat_out.view(n, out_h, out_w, self.out_channels).permute(0, 3, 1, 2).contiguous()
        self.grad_cache["cols"] = cols
        self.grad_cache["pad_shape"] = xpad.shape
        return out

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
        n, c_in, hp, wp = self.grad_cache["pad_shape"]
        out_h, out_w = dout.shape[2], dout.shape[3]
        kh, kw = self.kernel_size
        grad_rows = dout.permute(0, 2, 3, 1).reshape(-1, self.out_channels)   # (N*H'*W', C_out)
        self.dw += (grad_rows.T @ cols).view_as(self.dw)
        if self.b is not None:
            self.db += grad_rows.sum(dim=0)
        dcols = (grad_rows @ self.w.reshape(self.out_channels, -1)).view(n, out_h, out_w, c_in, kh, kw)
        # col2im: each kernel position sends its column back to the pixels it read
        dxpad = dout.new_zeros(n, c_in, hp, wp)
        for u in range(kh):
            for v in range(kw):
                _tap(dxpad, u, v, out_h, out_w, self.stride).add_(dcols[..., u, v].permute(0, 3, 1, 2))
        dx = _crop_hw(dxpad, *self.padding)
        return dx

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
        n, c = x.shape[0], x.shape[1]
        kh, kw = self.kernel_size
        xpad = _pad_hw(x, *self.padding, fill=float("-inf"))
        wins = _windows(xpad, self.kernel_size, self.stride)     # (N, C, H', W', kH, kW)
        out_h, out_w = wins.shape[2], wins.shape[3]
        flat = wins.reshape(n, c, out_h, out_w, kh * kw)
        out, argmax = flat.max(dim=-1)                           # first max on ties
        self.grad_cache["argmax"] = argmax
        self.grad_cache["pad_shape"] = xpad.shape
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
        argmax = self.grad_cache["argmax"]
        n, c, hp, wp = self.grad_cache["pad_shape"]
        out_h, out_w = argmax.shape[2], argmax.shape[3]
        kw = self.kernel_size[1]
        sh, sw = self.stride
        # Position of each max in the padded input, as a flat index into H_pad * W_pad.
        rows = sh * torch.arange(out_h).view(-1, 1) + torch.div(argmax, kw, rounding_mode="floor")
        cols = sw * torch.arange(out_w).view(1, -1) + argmax % kw
        where = (rows * wp + cols).reshape(n, c, -1)
        dxpad = dout.new_zeros(n, c, hp * wp)
        dxpad.scatter_add_(2, where, dout.reshape(n, c, -1))
        dx = _crop_hw(dxpad.view(n, c, hp, wp), *self.padding)
        return dx

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
        xpad = _pad_hw(x, *self.padding)
        out = _windows(xpad, self.kernel_size, self.stride).mean(dim=(-2, -1))
        self.grad_cache["pad_shape"] = xpad.shape
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, shape (N, C, H', W').

        Returns:
        - dx: gradient with respect to x, shape (N, C, H, W).
        """
        kh, kw = self.kernel_size
        out_h, out_w = dout.shape[2], dout.shape[3]
        share = dout / (kh * kw)
        dxpad = dout.new_zeros(self.grad_cache["pad_shape"])
        for u in range(kh):
            for v in range(kw):
                _tap(dxpad, u, v, out_h, out_w, self.stride).add_(share)
        dx = _crop_hw(dxpad, *self.padding)
        return dx

    def __repr__(self):
        return f"AvgPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class Flatten(Layer):
    """Reshapes (N, C, H, W) (or any (N, ...)) to (N, C*H*W), as torch.nn.Flatten does."""

    def forward(self, x, **kw):
        self.grad_cache["shape"] = x.shape
        out = x.reshape(x.shape[0], -1)
        return out

    def backward(self, dout):
        dx = dout.reshape(self.grad_cache["shape"])
        return dx


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
        self.gamma = torch.ones(num_features)
        self.beta = torch.zeros(num_features)
        self.dgamma = torch.zeros(num_features)
        self.dbeta = torch.zeros(num_features)
        self.running_mean = torch.zeros(num_features)
        self.running_var = torch.ones(num_features)

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
        per_channel = (1, -1, 1, 1)
        if self.training_mode:
            count = x.shape[0] * x.shape[2] * x.shape[3]
            mu = x.mean(dim=(0, 2, 3))
            centred = x - mu.view(per_channel)
            var = (centred * centred).mean(dim=(0, 2, 3))
            with torch.no_grad():
                unbiased = var * count / max(count - 1, 1)
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mu.detach())
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased.detach())
        else:
            mu, var = self.running_mean, self.running_var
            centred = x - mu.view(per_channel)
        inv_std = 1.0 / torch.sqrt(var + self.eps)
        x_hat = centred * inv_std.view(per_channel)
        out = self.gamma.view(per_channel) * x_hat + self.beta.view(per_channel)
        self.grad_cache.update(x_hat=x_hat, inv_std=inv_std, batch_stats=self.training_mode)
        return out

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
        x_hat, inv_std = self.grad_cache["x_hat"], self.grad_cache["inv_std"]
        per_channel = (1, -1, 1, 1)
        sum_dout = dout.sum(dim=(0, 2, 3))
        sum_dout_xhat = (dout * x_hat).sum(dim=(0, 2, 3))
        self.dgamma += sum_dout_xhat
        self.dbeta += sum_dout
        scale = (self.gamma * inv_std).view(per_channel)
        if self.grad_cache["batch_stats"]:
            count = dout.shape[0] * dout.shape[2] * dout.shape[3]
            dx = scale / count * (count * dout - sum_dout.view(per_channel)
                                  - x_hat * sum_dout_xhat.view(per_channel))
        else:
            dx = scale * dout
        return dx

    def __repr__(self):
        return f"BatchNorm2d({self.num_features}, eps={self.eps}, momentum={self.momentum})"
