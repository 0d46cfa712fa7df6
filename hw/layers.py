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
        return type(self).__name__


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
        # TODO: Compute the leaky ReLU of x and cache what backward needs.
        ### BEGIN SOLUTION
        self.grad_cache["x"] = x
        out = torch.where(x > 0, x, self.alpha * x)
        ### END SOLUTION
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x: dout where x > 0, alpha * dout elsewhere.
        """
        # TODO: Compute dx from dout and the cached input.
        ### BEGIN SOLUTION
        x = self.grad_cache["x"]
        dx = torch.where(x > 0, dout, self.alpha * dout)
        ### END SOLUTION
        return dx

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


class ReLU(LeakyReLU):
    """
    Rectified linear unit: relu(x) = max(0, x), a LeakyReLU with alpha = 0.
    """

    def __init__(self):
        # TODO: Initialise the parent class so that this layer is a ReLU.
        ### BEGIN SOLUTION
        super().__init__(alpha=0.0)
        ### END SOLUTION

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
        # TODO: Compute the sigmoid of x (do not call torch.sigmoid) and cache
        #  what backward needs.
        ### BEGIN SOLUTION
        out = 1 / (1 + torch.exp(-x))
        self.grad_cache["out"] = out
        ### END SOLUTION
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x: dout * sigma(x) * (1 - sigma(x)).
        """
        # TODO: Compute dx using the output cached by forward.
        ### BEGIN SOLUTION
        out = self.grad_cache["out"]
        dx = dout * out * (1 - out)
        ### END SOLUTION
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
        # TODO: Compute tanh of x (torch.tanh may be used here) and cache what backward needs.
        ### BEGIN SOLUTION
        out = torch.tanh(x)
        self.grad_cache["out"] = out
        ### END SOLUTION
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x: dout * (1 - tanh(x)^2).
        """
        # TODO: Compute dx using the output cached by forward.
        ### BEGIN SOLUTION
        out = self.grad_cache["out"]
        dx = dout * (1 - out**2)
        ### END SOLUTION
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

        # TODO: Create the parameters w of shape (D_out, D_in) and b of shape
        #  (D_out,), drawn from N(0, wstd^2), and their gradients dw and db,
        #  zeros of the same shapes.
        ### BEGIN SOLUTION
        self.w = torch.randn(out_features, in_features) * wstd
        self.b = torch.randn(out_features) * wstd
        self.dw = torch.zeros_like(self.w)
        self.db = torch.zeros_like(self.b)
        ### END SOLUTION

    def params(self):
        return [(self.w, self.dw), (self.b, self.db)]

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of shape (N, D_in).

        Returns:
        - out: output of shape (N, D_out), out = x @ w.T + b.
        """
        # TODO: Compute the affine transform and cache what backward needs.
        ### BEGIN SOLUTION
        self.grad_cache["x"] = x
        out = x @ self.w.T + self.b
        ### END SOLUTION
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
        # TODO: Accumulate dw and db, then compute dx.
        ### BEGIN SOLUTION
        x = self.grad_cache["x"]
        self.dw += dout.T @ x
        self.db += dout.sum(dim=0)
        dx = dout @ self.w
        ### END SOLUTION
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
        # TODO: Compute the loss in a numerically stable way (hint: subtract
        #  each row's maximum before exponentiating) and cache what backward
        #  needs.
        ### BEGIN SOLUTION
        x_shifted = x - x.max(dim=1, keepdim=True).values
        log_sum_exp = torch.log(torch.exp(x_shifted).sum(dim=1))
        correct_scores = x_shifted.gather(1, y.view(-1, 1)).squeeze(1)
        loss = (log_sum_exp - correct_scores).mean()
        self.grad_cache["x_shifted"] = x_shifted
        self.grad_cache["y"] = y
        ### END SOLUTION
        return loss

    def backward(self, dout=1.0):
        """
        Inputs:
        - dout: gradient with respect to the scalar loss (1.0 by default).

        Returns:
        - dx: gradient with respect to the scores x, shape (N, C):
          dout * (softmax(x) - onehot(y)) / N.
        """
        # TODO: Compute dx.
        ### BEGIN SOLUTION
        x_shifted = self.grad_cache["x_shifted"]
        y = self.grad_cache["y"]
        n = x_shifted.shape[0]
        probs = torch.softmax(x_shifted, dim=1)
        probs[torch.arange(n), y] -= 1
        dx = dout * probs / n
        ### END SOLUTION
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
        # TODO: In training mode, draw a random keep-mask, zero the dropped
        #  elements and rescale the kept ones by 1 / (1 - p). In evaluation
        #  mode return x unchanged. Cache what backward needs.
        ### BEGIN SOLUTION
        if self.training_mode:
            mask = (torch.rand_like(x) >= self.p).to(x.dtype) / (1 - self.p)
        else:
            mask = torch.ones_like(x)
        self.grad_cache["mask"] = mask
        out = x * mask
        ### END SOLUTION
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, same shape as x.

        Returns:
        - dx: gradient with respect to x, using the mask of the last forward.
        """
        # TODO: Compute dx.
        ### BEGIN SOLUTION
        dx = dout * self.grad_cache["mask"]
        ### END SOLUTION
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
        # TODO: Apply each layer to the output of the previous one, passing kw.
        ### BEGIN SOLUTION
        out = x
        for layer in self.layers:
            out = layer(out, **kw)
        ### END SOLUTION
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output of the last layer.

        Returns:
        - din: gradient with respect to the input of the first layer.
        """
        # TODO: Backpropagate through the layers in reverse order.
        ### BEGIN SOLUTION
        din = dout
        for layer in reversed(self.layers):
            din = layer.backward(din)
        ### END SOLUTION
        return din

    def params(self):
        """
        Returns:
        - The parameters of all layers, in layer order.
        """
        # TODO: Concatenate the params() of all layers.
        ### BEGIN SOLUTION
        params = []
        for layer in self.layers:
            params += layer.params()
        ### END SOLUTION
        return params

    def buffers(self):
        return [buf for layer in self.layers for buf in layer.buffers()]

    def train(self, training_mode=True):
        # TODO: Set the mode of this layer and of every layer it contains.
        ### BEGIN SOLUTION
        super().train(training_mode)
        for layer in self.layers:
            layer.train(training_mode)
        ### END SOLUTION

    def __getitem__(self, item):
        return self.layers[item]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        lines = [f"  [{i}] {layer}" for i, layer in enumerate(self.layers)]
        return "\n".join([f"{type(self).__name__}("] + lines + [")"])


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

        # TODO: Build the list of layers described above and wrap it in a
        #  Sequential stored as self.sequence.
        ### BEGIN SOLUTION
        layers = []
        sizes = [in_features, *hidden_features]
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            layers += [Linear(d_in, d_out, wstd=wstd), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(Dropout(dropout))
        layers.append(Linear(sizes[-1], num_classes, wstd=wstd))
        self.sequence = Sequential(*layers)
        ### END SOLUTION

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
    # TODO: Apply the formula above; raise a ValueError that names the sizes
    #  when kernel > size + 2 * padding.
    ### BEGIN SOLUTION
    if kernel > size + 2 * padding:
        raise ValueError(f"a window of {kernel} does not fit in {size} + 2 * {padding} (input + padding)")
    return (size + 2 * padding - kernel) // stride + 1
    ### END SOLUTION


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

        # TODO: Create w of shape (C_out, C_in, kH, kW) and, when bias is True,
        #  b of shape (C_out,) (else set self.b = None), both drawn from
        #  U(-k, k) with k = 1 / sqrt(C_in * kH * kW) (torch's default), and
        #  their gradients dw and db, zeros of the same shapes (db = None
        #  without bias).
        ### BEGIN SOLUTION
        kh, kw = self.kernel_size
        bound = 1 / (in_channels * kh * kw) ** 0.5
        self.w = (torch.rand(out_channels, in_channels, kh, kw) * 2 - 1) * bound
        self.b = (torch.rand(out_channels) * 2 - 1) * bound if bias else None
        self.dw = torch.zeros_like(self.w)
        self.db = torch.zeros_like(self.b) if bias else None
        ### END SOLUTION

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
        # TODO: Use window_output_size for each axis.
        ### BEGIN SOLUTION
        n, _, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (n, self.out_channels, window_output_size(h, kh, sh, ph), window_output_size(w, kw, sw, pw))
        ### END SOLUTION

    def forward(self, x, **kw):
        """
        Inputs:
        - x: input of shape (N, C_in, H, W).

        Returns:
        - out: output of shape (N, C_out, H', W').
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r} expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        # TODO: Compute the convolution and cache what backward needs. Loops
        #  over the output pixels (as in the notebook) are correct but slow;
        #  the fast way turns the sum into matrix multiplications.
        ### BEGIN SOLUTION
        # An "implicit GEMM": no im2col matrix (9 copies of the input for a
        # 3x3 kernel, memory-bound, measured 3-5x slower than torch) is built.
        # Split the padded input into its stride x stride phases (phase (p, q)
        # holds the pixels (S*i + p, S*j + q)). With channels first and the
        # batch and the pixels of a phase flattened into one axis, the pixels
        # that kernel tap (u, v) meets form a *contiguous* slice of phase
        # (u % S, v % S), shifted by (u // S) * row length + v // S. So each
        # tap is one large matrix multiply on views, forward and backward. The
        # flat output covers every phase pixel; only the first H' x W' of each
        # image's grid are real outputs (the rest are cropped), and a spare
        # zero row per image keeps the shifted slices of the real outputs
        # inside their own image.
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, _, h_out, w_out = self.output_shape(x.shape)
        hq, wq = -(-(h + 2 * ph) // sh) + 1, -(-(w + 2 * pw) // sw)  # phase size (ceil), plus the spare row
        xpad = torch.nn.functional.pad(x, (pw, wq * sw - w - pw, ph, hq * sh - h - ph))
        phases = xpad.view(n, c, hq, sh, wq, sw).permute(3, 5, 1, 0, 2, 4).reshape(sh, sw, c, n * hq * wq)
        taps = [(u, v, u % sh, v % sw, (u // sh) * wq + v // sw) for u in range(kh) for v in range(kw)]
        length = n * hq * wq - taps[-1][-1]  # the last tap has the largest shift
        w_taps = self.w.permute(2, 3, 0, 1).contiguous()  # (kH, kW, C_out, C_in)
        if self.b is None:
            out = torch.zeros(self.out_channels, n * hq * wq, dtype=x.dtype)
        else:
            out = self.b.view(-1, 1).expand(-1, n * hq * wq).contiguous()
        for u, v, p, q, shift in taps:
            out[:, :length].addmm_(w_taps[u, v], phases[p, q, :, shift : shift + length])
        out = out.view(-1, n, hq, wq)[:, :, :h_out, :w_out].permute(1, 0, 2, 3).contiguous()
        self.grad_cache.update(
            phases=phases, w_taps=w_taps, taps=taps, length=length, x_shape=x.shape, phase_shape=(hq, wq)
        )
        ### END SOLUTION
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
        # TODO: Compute dx and accumulate dw and db.
        ### BEGIN SOLUTION
        phases, w_taps, taps, length, (n, c, h, w), (hq, wq) = (
            self.grad_cache[k] for k in ("phases", "w_taps", "taps", "length", "x_shape", "phase_shape")
        )
        (sh, sw), (ph, pw) = self.stride, self.padding
        h_out, w_out = dout.shape[2:]
        # dout laid out like the flat output of forward, zero on the cropped positions.
        dflat = torch.zeros(self.out_channels, n, hq, wq, dtype=dout.dtype)
        dflat[:, :, :h_out, :w_out] = dout.permute(1, 0, 2, 3)
        dflat = dflat.view(self.out_channels, -1)[:, :length]
        dphases = torch.zeros_like(phases)
        dw_taps = torch.zeros_like(w_taps)
        for u, v, p, q, shift in taps:
            dw_taps[u, v].addmm_(dflat, phases[p, q, :, shift : shift + length].T)
            dphases[p, q, :, shift : shift + length].addmm_(w_taps[u, v].T, dflat)
        self.dw += dw_taps.permute(2, 3, 0, 1)
        if self.b is not None:
            self.db += dout.sum(dim=(0, 2, 3))
        dxpad = dphases.view(sh, sw, c, n, hq, wq).permute(3, 2, 4, 0, 5, 1).reshape(n, c, hq * sh, wq * sw)
        dx = dxpad[:, :, ph : ph + h, pw : pw + w]
        ### END SOLUTION
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
        # TODO: Compute the max of every window and cache what backward needs
        #  to find, for each output, which input was the max (hint: _windows,
        #  and torch.max along a dimension also returns the index).
        ### BEGIN SOLUTION
        (ph, pw), (kh, kw), (sh, sw) = self.padding, self.kernel_size, self.stride
        xpad = torch.nn.functional.pad(x, (pw, pw, ph, ph), value=-torch.inf) if ph or pw else x
        windows = _windows(xpad, self.kernel_size, self.stride)
        n, c, h_out, w_out = windows.shape[:4]
        width = xpad.shape[3]
        # Kernel offsets first: one copy, then a max over the first dimension,
        # on contiguous memory (a max over the last dimension of the windows
        # measured 2.5x torch's time for a 2x2 pool, this 1.3-1.8x).
        # torch.max returns the first index of the largest value: ties go to
        # the first input in row-major order, as in PyTorch's max pooling.
        taps = windows.permute(4, 5, 0, 1, 2, 3).reshape(kh * kw, n, c, h_out, w_out)
        out, tap = taps.max(dim=0)
        # Flat index of each max within its padded image: window corner + tap offset.
        tap_offsets = torch.tensor([u * width + v for u in range(kh) for v in range(kw)])
        corner = torch.arange(h_out).view(-1, 1) * sh * width + torch.arange(w_out) * sw
        index = tap_offsets[tap].add_(corner)
        self.grad_cache.update(index=index, x_shape=x.shape, pad_shape=xpad.shape)
        ### END SOLUTION
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
        # TODO: Route each output's gradient to its max.
        ### BEGIN SOLUTION
        index, (n, c, h, w), pad_shape = (self.grad_cache[k] for k in ("index", "x_shape", "pad_shape"))
        (ph, pw) = self.padding
        dxpad = torch.zeros(n * c, pad_shape[2] * pad_shape[3], dtype=dout.dtype)
        dxpad.scatter_add_(1, index.reshape(n * c, -1), dout.reshape(n * c, -1))
        dx = dxpad.view(pad_shape)[:, :, ph : ph + h, pw : pw + w]
        ### END SOLUTION
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
        # TODO: Compute the mean of every window; cache the input's shape.
        ### BEGIN SOLUTION
        (ph, pw) = self.padding
        xpad = torch.nn.functional.pad(x, (pw, pw, ph, ph)) if ph or pw else x
        out = _windows(xpad, self.kernel_size, self.stride).mean(dim=(-2, -1))
        self.grad_cache.update(x_shape=x.shape, pad_shape=xpad.shape)
        ### END SOLUTION
        return out

    def backward(self, dout):
        """
        Inputs:
        - dout: gradient with respect to the output, shape (N, C, H', W').

        Returns:
        - dx: gradient with respect to x, shape (N, C, H, W).
        """
        # TODO: Spread dout / (kH * kW) over each window (windows may overlap).
        ### BEGIN SOLUTION
        (n, c, h, w), pad_shape = self.grad_cache["x_shape"], self.grad_cache["pad_shape"]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        h_out, w_out = dout.shape[2:]
        share = dout / (kh * kw)
        dxpad = torch.zeros(pad_shape, dtype=dout.dtype)
        # One strided add per kernel offset: offset (u, v) of every window at once.
        for u in range(kh):
            for v in range(kw):
                dxpad[:, :, u : u + sh * (h_out - 1) + 1 : sh, v : v + sw * (w_out - 1) + 1 : sw] += share
        dx = dxpad[:, :, ph : ph + h, pw : pw + w]
        ### END SOLUTION
        return dx

    def __repr__(self):
        return f"AvgPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class Flatten(Layer):
    """Reshapes (N, C, H, W) (or any (N, ...)) to (N, C*H*W), as torch.nn.Flatten does."""

    def forward(self, x, **kw):
        # TODO: Flatten all dimensions but the first; cache the input's shape.
        ### BEGIN SOLUTION
        self.grad_cache["x_shape"] = x.shape
        out = x.reshape(x.shape[0], -1)
        ### END SOLUTION
        return out

    def backward(self, dout):
        # TODO: Give dout the input's shape back.
        ### BEGIN SOLUTION
        dx = dout.reshape(self.grad_cache["x_shape"])
        ### END SOLUTION
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
        # TODO: Create gamma (ones) and beta (zeros) of shape (C,), their
        #  gradients dgamma and dbeta (zeros), and the running averages
        #  running_mean (zeros) and running_var (ones), all of shape (C,).
        ### BEGIN SOLUTION
        self.gamma, self.beta = torch.ones(num_features), torch.zeros(num_features)
        self.dgamma, self.dbeta = torch.zeros(num_features), torch.zeros(num_features)
        self.running_mean, self.running_var = torch.zeros(num_features), torch.ones(num_features)
        ### END SOLUTION

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
        # TODO: Normalise with the batch statistics (training mode, updating
        #  the running averages) or the running ones (evaluation mode), scale
        #  and shift, and cache what backward needs.
        ### BEGIN SOLUTION
        channel = (1, -1, 1, 1)  # views a (C,) tensor to broadcast over (N, C, H, W)
        if self.training_mode:
            count = x.numel() // x.shape[1]
            mean = x.mean(dim=(0, 2, 3))
            centred = x - mean.view(channel)
            var = torch.linalg.vector_norm(centred, dim=(0, 2, 3)) ** 2 / count
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * count / max(count - 1, 1))
        else:
            mean, var = self.running_mean, self.running_var
            centred = x - mean.view(channel)
        inv_std = (var + self.eps).rsqrt()
        # In place and fused (addcmul = a + b * c): each pass over a large
        # activation tensor costs about as much as all the arithmetic.
        x_hat = centred.mul_(inv_std.view(channel))
        out = torch.addcmul(self.beta.view(channel), x_hat, self.gamma.view(channel))
        self.grad_cache.update(x_hat=x_hat, inv_std=inv_std, batch_stats=self.training_mode)
        ### END SOLUTION
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
        # TODO: Accumulate dgamma and dbeta and compute dx.
        ### BEGIN SOLUTION
        x_hat, inv_std, batch_stats = (self.grad_cache[k] for k in ("x_hat", "inv_std", "batch_stats"))
        channel = (1, -1, 1, 1)
        dbeta = dout.sum(dim=(0, 2, 3))
        dout_x_hat = dout * x_hat
        dgamma = dout_x_hat.sum(dim=(0, 2, 3))
        self.dbeta += dbeta
        self.dgamma += dgamma
        scale = self.gamma * inv_std
        if batch_stats:
            # dx = scale * dout - scale * mean(dout) - scale * mean(dout * x_hat) * x_hat,
            # written into the buffer of dout * x_hat, which is no longer needed.
            count = dout.numel() // dout.shape[1]
            shift, slope = -scale * dbeta / count, -scale * dgamma / count
            dx = torch.addcmul(shift.view(channel), dout, scale.view(channel), out=dout_x_hat)
            dx.addcmul_(x_hat, slope.view(channel))
        else:
            dx = dout * scale.view(channel)
        ### END SOLUTION
        return dx

    def __repr__(self):
        return f"BatchNorm2d({self.num_features}, eps={self.eps}, momentum={self.momentum})"
