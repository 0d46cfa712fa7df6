"""
Hidden tests for Part 3: convolution, pooling and batch normalization from
scratch, and the MyLinear / MyConv2d modules.

References are PyTorch's own layers with autograd, run here in the harness
on the inputs the probe received, and the published values of seed 002
(transposed from its NHWC layout to NCHW). A layer test first checks that the
layer neither uses autograd nor calls PyTorch's implementation of itself; the
worker allows only elementary operators there too (see probes.AllowOperators).
"""
import pytest
import torch
import torch.nn.functional as F
from checks import check_close, check_equal
from hw.policy import LAYER_RULE, OWN_MODULE_RULE

# float32 sums of up to a few hundred products: rounding stays far below 1e-4,
# a wrong index or a missing term is off by about the size of the values.
TOL = dict(atol=1e-4, rtol=1e-4)


def autograd(fn, inputs, dout):
    """Output of fn(*inputs) and the gradients of <fn(*inputs), dout> w.r.t. every input."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    out.backward(dout)
    return out.detach(), [leaf.grad for leaf in leaves]


# -- Conv2d ---------------------------------------------------------------------

CONV_CASES = [  # x shape, C_out, kernel, stride, padding, bias
    pytest.param((4, 3, 8, 8), 5, 3, 1, 1, True, id="3x3-s1-p1"),
    pytest.param((2, 4, 9, 12), 6, 5, 2, 2, True, id="5x5-s2-p2-nonsquare"),
    pytest.param((3, 8, 5, 5), 4, 1, 1, 0, True, id="1x1"),
    pytest.param((2, 3, 7, 10), 4, (2, 3), (2, 1), (1, 0), True, id="2x3-s2x1-p1x0"),
    pytest.param((5, 1, 11, 13), 2, 4, 3, 0, True, id="4x4-s3-1channel"),
    pytest.param((2, 3, 6, 6), 4, 3, 1, 0, False, id="3x3-no-bias"),
]


def conv_inputs(x_shape, c_out, kernel, bias):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x, w = torch.randn(x_shape), torch.randn(c_out, x_shape[1], kh, kw)
    params = [w, torch.randn(c_out)] if bias else [w]
    return x, params


def conv_spec(x_shape, c_out, kernel, stride, padding, bias):
    return {
        "cls": "Conv2d",
        "args": [x_shape[1], c_out, kernel],
        "kwargs": {"stride": stride, "padding": padding, "bias": bias},
    }


def conv_reference(stride, padding):
    return lambda x, w, b=None: F.conv2d(x, w, b, stride=stride, padding=padding)


def check_random_case_first(worker, cls):
    """
    A known-values test's input is fixed, so its answer could be looked up:
    it counts only for a layer that also computes a case drawn at grading
    time (the course's secret draws the inputs) as PyTorch does, in the
    known-values test's own configuration: a layer that handles only that
    configuration computes it rather than looking its answer up.
    """
    x = torch.randn(2, 1, 8, 8)
    if cls == "Conv2d":
        w, b = torch.randn(2, 1, 5, 5), torch.randn(2)
        result = worker.call("layer_pass", spec={"cls": "Conv2d", "args": [1, 2, 5]}, x=x, douts=[], params=[w, b])
        expected = F.conv2d(x, w, b)
    else:
        result = worker.call("layer_pass", spec=pool_spec("MaxPool2d", 4, 2, 0), x=x, douts=[])
        expected = F.max_pool2d(x, 4, 2)
    try:
        check_close(f"{cls} on an input drawn for this test", result["outs"][0], expected, **TOL)
    except AssertionError as exc:
        raise AssertionError(f"the known values count only for a {cls} that computes other inputs too: {exc}") from None


@pytest.mark.points(1)
def test_conv_output_shape(worker):
    """Conv2d.output_shape: H' = (H + 2P - K) // S + 1, on square and non-square cases"""
    cases = [
        ((3, 16, 4), {"stride": 2, "padding": 3}, (32, 3, 28, 28)),
        ((2, 5, 3), {"stride": 2, "padding": 1}, (7, 2, 31, 20)),
        ((1, 1, (2, 5)), {"stride": (3, 1), "padding": (0, 2)}, (1, 1, 10, 6)),
    ]
    for args, kwargs, shape in cases:
        got = worker.call("conv_output_shape", args=list(args), kwargs=kwargs, input_shape=list(shape))
        weight = torch.zeros(args[1], args[0], *((args[2],) * 2 if isinstance(args[2], int) else args[2]))
        expected = list(F.conv2d(torch.zeros(shape), weight, **kwargs).shape)
        check_equal(f"Conv2d{args} with {kwargs}: output_shape({shape})", got, expected)


@pytest.mark.points(1)
@pytest.mark.parametrize("x_shape, c_out, kernel, stride, padding, bias", CONV_CASES)
def test_conv_forward(worker, from_scratch, x_shape, c_out, kernel, stride, padding, bias):
    """Conv2d forward against torch's F.conv2d"""
    from_scratch(LAYER_RULE, "Conv2d")
    x, params = conv_inputs(x_shape, c_out, kernel, bias)
    spec = conv_spec(x_shape, c_out, kernel, stride, padding, bias)
    result = worker.call("layer_pass", spec=spec, x=x, douts=[], params=params)
    expected = conv_reference(stride, padding)(x, *params)
    check_close(f"Conv2d(kernel={kernel}, stride={stride}, padding={padding}) on {x_shape}", result["outs"][0], expected, **TOL)


@pytest.mark.points(2)
@pytest.mark.parametrize("x_shape, c_out, kernel, stride, padding, bias", CONV_CASES)
def test_conv_backward(worker, from_scratch, x_shape, c_out, kernel, stride, padding, bias):
    """Conv2d backward: dx, dw and db against autograd"""
    from_scratch(LAYER_RULE, "Conv2d")
    x, params = conv_inputs(x_shape, c_out, kernel, bias)
    spec = conv_spec(x_shape, c_out, kernel, stride, padding, bias)
    reference = conv_reference(stride, padding)
    expected_out = reference(x, *params)
    dout = torch.randn(expected_out.shape)
    result = worker.call("layer_pass", spec=spec, x=x, douts=[dout], params=params)
    _, grads = autograd(reference, [x, *params], dout)
    what = f"Conv2d(kernel={kernel}, stride={stride}, padding={padding}).backward"
    check_close(f"{what}: dx", result["dxs"][0], grads[0], **TOL)
    check_close(f"{what}: dw", result["grads"][0], grads[1], **TOL)
    if bias:
        check_close(f"{what}: db", result["grads"][1], grads[2], **TOL)


@pytest.mark.points(1)
def test_conv_gradients_accumulate(worker, from_scratch):
    """Conv2d adds dw and db of consecutive backward passes (+=)"""
    from_scratch(LAYER_RULE, "Conv2d")
    x, params = conv_inputs((2, 3, 6, 6), 4, 3, True)
    douts = [torch.randn(2, 4, 6, 6), torch.randn(2, 4, 6, 6)]
    spec = conv_spec((2, 3, 6, 6), 4, 3, 1, 1, True)
    result = worker.call("layer_pass", spec=spec, x=x, douts=douts, params=params)
    _, grads = autograd(conv_reference(1, 1), [x, *params], douts[0] + douts[1])
    check_close("Conv2d: dw after two backward passes", result["grads"][0], grads[1], **TOL)
    check_close("Conv2d: db after two backward passes", result["grads"][1], grads[2], **TOL)


# Seed 002's test values, NHWC there: x (1, 8, 8, 1), w (5, 5, 1, 2), out (1, 4, 4, 2).
SEED_CONV_OUT = [
    [[-0.03874312, 0.57000324], [-0.03955296, 0.57081309], [-0.04036281, 0.57162293], [-0.04117266, 0.57243278]],
    [[-0.0452219, 0.57648202], [-0.04603175, 0.57729187], [-0.04684159, 0.57810172], [-0.04765144, 0.57891156]],
    [[-0.05170068, 0.5829608], [-0.05251053, 0.58377065], [-0.05332038, 0.5845805], [-0.05413022, 0.58539035]],
    [[-0.05817946, 0.58943959], [-0.05898931, 0.59024943], [-0.05979916, 0.59105928], [-0.06060901, 0.59186913]],
]
SEED_POOL_OUT = [[0.11428571, 0.13015873, 0.14603175], [0.24126984, 0.25714286, 0.27301587], [0.36825397, 0.38412698, 0.4]]


def ramp_image():
    """The worked example's 8x8 grey ramp, (1, 8, 8, 1) in NHWC, as (1, 1, 8, 8)."""
    return torch.linspace(-0.1, 0.4, 64).reshape(1, 8, 8, 1).permute(0, 3, 1, 2).contiguous()


@pytest.mark.points(1)
def test_conv_known_values(worker, from_scratch):
    """Conv2d(1, 2, 5) reproduces the known output on an 8x8 ramp image"""
    from_scratch(LAYER_RULE, "Conv2d")
    check_random_case_first(worker, "Conv2d")
    w = torch.linspace(-0.2, 0.2, 50).reshape(5, 5, 1, 2).permute(3, 2, 0, 1).contiguous()
    b = torch.linspace(-0.3, 0.3, 2)
    result = worker.call("layer_pass", spec={"cls": "Conv2d", "args": [1, 2, 5]}, x=ramp_image(), douts=[], params=[w, b])
    expected = torch.tensor(SEED_CONV_OUT).unsqueeze(0).permute(0, 3, 1, 2)
    check_close("Conv2d(1, 2, 5) on the 8x8 ramp image", result["outs"][0], expected, atol=1e-6, rtol=0)


# -- pooling ----------------------------------------------------------------------

POOL_CASES = [  # x shape, kernel, stride, padding
    pytest.param((2, 3, 8, 8), 2, None, 0, id="2x2"),
    pytest.param((2, 2, 9, 7), 3, 2, 1, id="3x3-s2-p1-overlapping"),
    pytest.param((3, 2, 6, 9), (2, 3), (1, 2), 0, id="2x3-s1x2-nonsquare"),
]


def with_ties(shape):
    """Values on a coarse grid, so that most windows hold the same maximum several times."""
    return torch.randint(-2, 3, shape).float()


def pool_spec(cls, kernel, stride, padding):
    return {"cls": cls, "args": [kernel], "kwargs": {"stride": stride, "padding": padding}}


def pool_pass(worker, cls, torch_pool, x, kernel, stride, padding):
    """The student's pooling layer forward and backward on x, and torch's output and dx for the same dout."""
    reference = lambda x: torch_pool(x, kernel, stride, padding)  # noqa: E731
    dout = torch.randn(reference(x).shape)
    result = worker.call("layer_pass", spec=pool_spec(cls, kernel, stride, padding), x=x, douts=[dout])
    out, (dx,) = autograd(reference, [x], dout)
    return result, out, dx


@pytest.mark.points(1)
@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_maxpool_forward(worker, from_scratch, x_shape, kernel, stride, padding):
    """MaxPool2d forward against torch's F.max_pool2d"""
    from_scratch(LAYER_RULE, "MaxPool2d")
    x = torch.randn(x_shape)
    result = worker.call("layer_pass", spec=pool_spec("MaxPool2d", kernel, stride, padding), x=x, douts=[])
    expected = F.max_pool2d(x, kernel, stride, padding)
    check_close(f"MaxPool2d(kernel={kernel}, stride={stride}, padding={padding})", result["outs"][0], expected, **TOL)


@pytest.mark.points(2)
@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_maxpool_backward_with_ties(worker, from_scratch, x_shape, kernel, stride, padding):
    """MaxPool2d backward against autograd, with tied maxima: the first one in the window gets the gradient"""
    from_scratch(LAYER_RULE, "MaxPool2d")
    result, out, dx = pool_pass(worker, "MaxPool2d", F.max_pool2d, with_ties(x_shape), kernel, stride, padding)
    what = f"MaxPool2d(kernel={kernel}, stride={stride}, padding={padding}) with tied maxima"
    check_close(f"{what}: forward", result["outs"][0], out, **TOL)
    check_close(f"{what}: dx (each output's gradient goes to the first max of its window only)", result["dxs"][0], dx, **TOL)


@pytest.mark.points(1)
def test_maxpool_known_values(worker, from_scratch):
    """MaxPool2d(4, stride=2) reproduces the known output on an 8x8 ramp image"""
    from_scratch(LAYER_RULE, "MaxPool2d")
    check_random_case_first(worker, "MaxPool2d")
    result = worker.call("layer_pass", spec=pool_spec("MaxPool2d", 4, 2, 0), x=ramp_image(), douts=[])
    check_close("MaxPool2d(4, stride=2) on the 8x8 ramp image", result["outs"][0], torch.tensor(SEED_POOL_OUT).view(1, 1, 3, 3), atol=1e-6, rtol=0)


@pytest.mark.points(1)
@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_avgpool(worker, from_scratch, x_shape, kernel, stride, padding):
    """AvgPool2d forward and backward against F.avg_pool2d and autograd"""
    from_scratch(LAYER_RULE, "AvgPool2d", "MaxPool2d")
    result, out, dx = pool_pass(worker, "AvgPool2d", F.avg_pool2d, torch.randn(x_shape), kernel, stride, padding)
    what = f"AvgPool2d(kernel={kernel}, stride={stride}, padding={padding})"
    check_close(f"{what}: forward", result["outs"][0], out, **TOL)
    check_close(f"{what}: dx", result["dxs"][0], dx, **TOL)


@pytest.mark.points(1)
def test_flatten(worker, from_scratch):
    """Flatten: (N, C, H, W) to (N, C*H*W) in torch's order, and back in backward"""
    from_scratch(LAYER_RULE, "Flatten")
    x, dout = torch.randn(3, 4, 5, 6), torch.randn(3, 120)
    result = worker.call("layer_pass", spec={"cls": "Flatten"}, x=x, douts=[dout])
    check_close("Flatten.forward", result["outs"][0], x.flatten(1), atol=0, rtol=0)
    check_close("Flatten.backward", result["dxs"][0], dout.view(3, 4, 5, 6), atol=0, rtol=0)


# -- BatchNorm2d ------------------------------------------------------------------


def batchnorm_case():
    x = torch.randn(6, 4, 5, 7) * 3 + 2
    gamma, beta = torch.rand(4) + 0.5, torch.randn(4)
    return x, gamma, beta, torch.randn(6, 4, 5, 7)


@pytest.mark.points(2)
def test_batchnorm_train(worker, from_scratch):
    """BatchNorm2d in training mode: output with batch statistics, dx, dgamma and dbeta against autograd"""
    from_scratch(LAYER_RULE, "BatchNorm2d")
    x, gamma, beta, dout = batchnorm_case()
    result = worker.call("layer_pass", spec={"cls": "BatchNorm2d", "args": [4]}, x=x, douts=[dout], params=[gamma, beta])
    out, (dx, dgamma, dbeta) = autograd(
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5), [x, gamma, beta], dout
    )
    check_close("BatchNorm2d (training mode).forward", result["outs"][0], out, **TOL)
    check_close("BatchNorm2d (training mode).backward: dx", result["dxs"][0], dx, **TOL)
    check_close("BatchNorm2d: dgamma", result["grads"][0], dgamma, **TOL)
    check_close("BatchNorm2d: dbeta", result["grads"][1], dbeta, **TOL)


@pytest.mark.points(1)
def test_batchnorm_running_statistics(worker, from_scratch):
    """BatchNorm2d updates running_mean and running_var (unbiased) like torch, over two training batches"""
    from_scratch(LAYER_RULE, "BatchNorm2d")
    x, gamma, beta, dout = batchnorm_case()
    result = worker.call(
        "layer_pass", spec={"cls": "BatchNorm2d", "args": [4]}, x=x, douts=[dout, dout], params=[gamma, beta],
        read=["running_mean", "running_var"],
    )  # fmt: skip
    running_mean, running_var = torch.zeros(4), torch.ones(4)  # updated in place by torch
    for _ in range(2):
        F.batch_norm(x, running_mean, running_var, training=True, momentum=0.1, eps=1e-5)
    check_close("BatchNorm2d.running_mean after two forward passes", result["attributes"]["running_mean"], running_mean, **TOL)
    check_close("BatchNorm2d.running_var after two forward passes", result["attributes"]["running_var"], running_var, **TOL)


@pytest.mark.points(1)
def test_batchnorm_eval(worker, from_scratch):
    """BatchNorm2d in evaluation mode: uses (and keeps) the running statistics, forward and backward"""
    from_scratch(LAYER_RULE, "BatchNorm2d")
    x, gamma, beta, dout = batchnorm_case()
    running = {"running_mean": torch.randn(4), "running_var": torch.rand(4) + 0.5}
    result = worker.call(
        "layer_pass", spec={"cls": "BatchNorm2d", "args": [4]}, x=x, douts=[dout], params=[gamma, beta],
        train=False, state=running, read=["running_mean", "running_var"],
    )  # fmt: skip
    out, (dx,) = autograd(
        lambda x: F.batch_norm(x, running["running_mean"], running["running_var"], gamma, beta, training=False, eps=1e-5),
        [x], dout,
    )  # fmt: skip
    check_close("BatchNorm2d (evaluation mode).forward", result["outs"][0], out, **TOL)
    check_close("BatchNorm2d (evaluation mode).backward: dx", result["dxs"][0], dx, **TOL)
    for name, value in running.items():
        check_close(f"BatchNorm2d.{name} in evaluation mode (must not change)", result["attributes"][name], value, atol=0, rtol=0)


# -- seed 002's TestCNN -----------------------------------------------------------

TEST_CNN = [
    {"cls": "Conv2d", "args": [3, 3, 3], "double": True},
    {"cls": "MaxPool2d", "args": [2]},
    {"cls": "Flatten"},
    {"cls": "Linear", "args": [27, 5], "double": True},
]
SEED_SCORES = [
    [-13.85107294, -11.52845818, -9.20584342, -6.88322866, -4.5606139],
    [-11.44514171, -10.21200524, -8.97886878, -7.74573231, -6.51259584],
    [-9.03921048, -8.89555231, -8.75189413, -8.60823596, -8.46457778],
    [-6.63327925, -7.57909937, -8.52491949, -9.4707396, -10.41655972],
]
SEED_LOSS = 4.56046848799693


def small_cnn_inputs():
    """The worked example's TestCNN parameters and features, NHWC there, in float64."""
    d = torch.float64
    w1 = torch.linspace(-0.7, 0.3, 81, dtype=d).reshape(3, 3, 3, 3).permute(3, 2, 0, 1).contiguous()
    b1 = torch.linspace(-0.6, 0.2, 3, dtype=d)
    # The seed flattens (H, W, C); our Flatten gives (C, H, W): the same weights, rows reordered.
    w2 = torch.linspace(-0.2, 0.2, 135, dtype=d).reshape(3, 3, 3, 5).permute(2, 0, 1, 3).reshape(27, 5).T.contiguous()
    b2 = torch.linspace(-0.9, 0.1, 5, dtype=d)
    x = torch.linspace(-5.5, 4.5, 768, dtype=d).reshape(4, 8, 8, 3).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor([0, 2, 1, 4]), [w1, b1, w2, b2]


def small_cnn_reference(x, y, w1, b1, w2, b2):
    return F.cross_entropy(F.linear(F.max_pool2d(F.conv2d(x, w1, b1), 2).flatten(1), w2, b2), y)


def check_small_cnn_random_case(worker):
    """The known values count only for a network that computes the same layers on inputs and parameters drawn now."""
    x, _, known = small_cnn_inputs()
    x, params = torch.randn_like(x), [torch.randn_like(p) for p in known]
    got = worker.call("sequential_pass", specs=TEST_CNN, params=params, x=x, dout=torch.zeros(4, 5, dtype=torch.float64))
    w1, b1, w2, b2 = params
    expected = F.linear(F.max_pool2d(F.conv2d(x, w1, b1), 2).flatten(1), w2, b2)
    try:
        check_close("the small CNN's scores on inputs and parameters drawn for this test", got["out"], expected, atol=1e-7, rtol=1e-7)
    except AssertionError as exc:
        raise AssertionError(f"the known values count only for a network that computes other inputs too: {exc}") from None


@pytest.mark.points(2)
def test_small_cnn_known_values(worker, from_scratch):
    """A small CNN (Conv2d, MaxPool2d, Flatten, Linear) in float64 with known parameters: its scores, its loss and every gradient"""
    from_scratch(LAYER_RULE, "Sequential", "Conv2d", "MaxPool2d", "Flatten", "Linear", "CrossEntropyLoss")
    check_small_cnn_random_case(worker)
    x, y, params = small_cnn_inputs()
    specs = TEST_CNN + [{"cls": "CrossEntropyLoss"}]
    scores = worker.call("sequential_pass", specs=TEST_CNN, params=params, x=x, dout=torch.zeros(4, 5, dtype=torch.float64))
    check_close("the small CNN's scores", scores["out"], torch.tensor(SEED_SCORES, dtype=torch.float64), atol=1e-7, rtol=0)
    result = worker.call("sequential_pass", specs=specs, params=params, x=x, y=y, dout=torch.tensor(1.0, dtype=torch.float64))
    check_close("the small CNN's loss", result["out"], torch.tensor(SEED_LOSS, dtype=torch.float64), atol=1e-10, rtol=0)
    _, grads = autograd(lambda x, *p: small_cnn_reference(x, y, *p), [x, *params], torch.tensor(1.0, dtype=torch.float64))
    check_close("TestCNN backward: dx", result["dx"], grads[0], atol=1e-9, rtol=1e-7)
    for i, (got, expected) in enumerate(zip(result["grads"], grads[1:])):
        check_close(f"TestCNN params()[{i}] gradient", got, expected, atol=1e-9, rtol=1e-7)


# -- MyLinear and MyConv2d --------------------------------------------------------

TORCH_MODULES = {"MyLinear": torch.nn.Linear, "MyConv2d": torch.nn.Conv2d}
MODULE_CASES = [  # class, args, kwargs, input shape
    pytest.param("MyLinear", [8, 16], {}, (5, 8), id="MyLinear"),
    pytest.param("MyConv2d", [3, 6, 3], {}, (2, 3, 9, 9), id="MyConv2d-3x3"),
    pytest.param("MyConv2d", [4, 5, (3, 2)], {"stride": 2, "padding": 1}, (2, 4, 10, 7), id="MyConv2d-3x2-s2-p1"),
]


@pytest.mark.points(1)
@pytest.mark.parametrize("cls, args, kwargs, x_shape", MODULE_CASES)
def test_module_state_dict_parity(worker, from_scratch, cls, args, kwargs, x_shape):
    """An hw.cnn module with a torch layer's state dict loaded: output within 1e-6, same gradients under autograd"""
    # hw/cnn.py's top level may use nn.Conv2d for Part 4's architectures; what MyLinear and MyConv2d call at
    # run time is refused in the worker (module_rules) however it is reached.
    from_scratch(OWN_MODULE_RULE, cls)
    torch_layer = TORCH_MODULES[cls](*args, **kwargs)
    state = {name: value.detach().clone() for name, value in torch_layer.state_dict().items()}
    x = torch.randn(x_shape)

    def reference(x, *values):
        return torch.func.functional_call(torch_layer, dict(zip(state, values)), (x,))

    dout = torch.randn(reference(x, *state.values()).shape)
    out, grads = autograd(reference, [x, *state.values()], dout)
    result = worker.call("module_pass", cls=cls, args=args, kwargs=kwargs, state=state, x=x, dout=dout)
    what = f"{cls}({', '.join(map(repr, args))}{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"
    check_close(f"{what} with the state dict of torch's layer: output", result["out"], out, atol=1e-6, rtol=0)
    for name, got, expected in zip(["input", *state], result["grads"], grads):
        check_close(f"{what}: gradient of the {name}", got, expected, atol=1e-5, rtol=1e-5)
