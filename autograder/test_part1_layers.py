"""
Hidden tests for Part 1: layers with hand-written backward passes.

Every reference is computed here, in the harness, with PyTorch's own functions
and autograd on the same inputs the probe received. Tests of a backward pass
first check that the student's classes do not use autograd themselves.
"""
import pytest
import torch
import torch.nn.functional as F
from checks import check_close, check_equal, check_shape
from hw.policy import LAYER_RULE

from course import ASSETS_DIR


def autograd(fn, inputs, dout):
    """Output of fn(*inputs) and the gradients of <fn(*inputs), dout> w.r.t. every input."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    out.backward(dout)
    return out.detach(), [leaf.grad for leaf in leaves]


def mixed_signs(*shape):
    """Random values of both signs, none too close to 0 (where ReLU has a kink)."""
    x = torch.randn(*shape)
    return x + 0.1 * torch.sign(x)


# -- activations --------------------------------------------------------------

ACTIVATIONS = [
    pytest.param({"cls": "LeakyReLU", "kwargs": {"alpha": 0.01}}, lambda x: F.leaky_relu(x, 0.01), id="LeakyReLU-0.01"),
    pytest.param({"cls": "LeakyReLU", "kwargs": {"alpha": 0.3}}, lambda x: F.leaky_relu(x, 0.3), id="LeakyReLU-0.3"),
    pytest.param({"cls": "ReLU"}, torch.relu, id="ReLU"),
    pytest.param({"cls": "Sigmoid"}, torch.sigmoid, id="Sigmoid"),
    pytest.param({"cls": "TanH"}, torch.tanh, id="TanH"),
]


@pytest.mark.points(1)
@pytest.mark.parametrize("spec, reference", ACTIVATIONS)
def test_activation_forward(worker, from_scratch, spec, reference):
    """Activation forward pass on a 3D input (N, H, W)"""
    from_scratch(LAYER_RULE, spec["cls"])
    x = mixed_signs(6, 5, 4)
    result = worker.call("layer_pass", spec=spec, x=x, douts=[])
    check_close(f"{spec['cls']}.forward", result["outs"][0], reference(x))


@pytest.mark.points(2)
@pytest.mark.parametrize("spec, reference", ACTIVATIONS)
def test_activation_backward(worker, from_scratch, spec, reference):
    """Activation backward pass against autograd, for positive and negative inputs"""
    from_scratch(LAYER_RULE, spec["cls"])
    x, dout = mixed_signs(20, 30), torch.randn(20, 30)
    result = worker.call("layer_pass", spec=spec, x=x, douts=[dout])
    _, (dx,) = autograd(reference, [x], dout)
    check_close(f"{spec['cls']}.backward: dx", result["dxs"][0], dx)


# -- Linear -----------------------------------------------------------------


def linear_reference(x, w, b):
    return x @ w.T + b


@pytest.mark.points(1)
def test_linear_parameters(worker):
    """Linear holds w (out, in), b (out,), zero gradients dw and db, and lists them in params()"""
    result = worker.call("linear_attributes", in_features=300, out_features=200, wstd=0.5)
    check_shape("Linear(300, 200).w", result["w"], (200, 300))
    check_shape("Linear(300, 200).b", result["b"], (200,))
    check_shape("Linear(300, 200).dw", result["dw"], (200, 300))
    check_shape("Linear(300, 200).db", result["db"], (200,))
    check_equal("Linear.dw and Linear.db start at zero", bool(result["dw"].eq(0).all() and result["db"].eq(0).all()), True)
    std = result["w"].std().item()
    if not 0.45 < std < 0.55:
        raise AssertionError(f"Linear(300, 200, wstd=0.5).w: expected standard deviation 0.5, got {std:.3f}")
    check_equal("the number of (tensor, gradient) pairs in Linear.params()", result["num_params"], 2)
    # The probe filled w, dw, b, db with 1, 2, 3, 4, then added 10 to every tensor
    # and 100 to every gradient of params(): only the layer's own tensors show both.
    expected = {"w": 11.0, "dw": 102.0, "b": 13.0, "db": 104.0}
    for name, value in expected.items():
        got = result["after_params_update"][name]
        if not bool(got.eq(value).all()):
            raise AssertionError(
                f"Linear.params() must be [(w, dw), (b, db)], the layer's own tensors: after adding to the tensors "
                f"params() returned, Linear.{name} should hold {value:g} everywhere, got {got.reshape(-1)[0].item():g}"
            )


@pytest.mark.points(2)
@pytest.mark.parametrize("n, d_in, d_out", [(8, 5, 3), (1, 7, 7), (32, 64, 10)], ids=["8x5to3", "1x7to7", "32x64to10"])
def test_linear_forward_backward(worker, from_scratch, n, d_in, d_out):
    """Linear forward and backward (dx, dw, db) against autograd"""
    from_scratch(LAYER_RULE, "Linear")
    x, w, b, dout = torch.randn(n, d_in), torch.randn(d_out, d_in), torch.randn(d_out), torch.randn(n, d_out)
    result = worker.call(
        "layer_pass", spec={"cls": "Linear", "args": [d_in, d_out]}, x=x, douts=[dout], params=[w, b]
    )
    out, (dx, dw, db) = autograd(linear_reference, [x, w, b], dout)
    check_close(f"Linear({d_in}, {d_out}).forward", result["outs"][0], out)
    check_close(f"Linear({d_in}, {d_out}).backward: dx", result["dxs"][0], dx)
    check_close(f"Linear({d_in}, {d_out}).backward: dw", result["grads"][0], dw)
    check_close(f"Linear({d_in}, {d_out}).backward: db", result["grads"][1], db)


@pytest.mark.points(2)
def test_linear_gradients_accumulate(worker, from_scratch):
    """Linear adds the parameter gradients of consecutive backward passes (+=)"""
    from_scratch(LAYER_RULE, "Linear")
    x, w, b = torch.randn(10, 6), torch.randn(4, 6), torch.randn(4)
    douts = [torch.randn(10, 4), torch.randn(10, 4)]
    result = worker.call("layer_pass", spec={"cls": "Linear", "args": [6, 4]}, x=x, douts=douts, params=[w, b])
    _, (_, dw, db) = autograd(linear_reference, [x, w, b], douts[0] + douts[1])
    check_close("Linear: dw after two backward passes", result["grads"][0], dw)
    check_close("Linear: db after two backward passes", result["grads"][1], db)


# -- CrossEntropyLoss ---------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.parametrize("scale", [1.0, 1e4], ids=["scores-1", "scores-1e4"])
def test_cross_entropy(worker, from_scratch, scale):
    """CrossEntropyLoss: the mean loss and its gradient, for ordinary and huge (1e4) scores"""
    from_scratch(LAYER_RULE, "CrossEntropyLoss")
    scores, labels = torch.randn(16, 7, dtype=torch.float64) * scale, torch.randint(0, 7, (16,))
    result = worker.call("layer_pass", spec={"cls": "CrossEntropyLoss"}, x=scores, y=labels, douts=[torch.tensor(1.0)])
    loss, (dx,) = autograd(lambda s: F.cross_entropy(s, labels), [scores], torch.tensor(1.0, dtype=torch.float64))
    check_shape("CrossEntropyLoss.forward", result["outs"][0], ())
    check_close(f"CrossEntropyLoss.forward (scores of magnitude {scale:g})", result["outs"][0], loss, atol=1e-6 * scale)
    check_close(f"CrossEntropyLoss.backward (scores of magnitude {scale:g})", result["dxs"][0], dx)


# -- Dropout ------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.parametrize("p", [0.2, 0.7])
def test_dropout_train(worker, from_scratch, p):
    """Dropout in training mode: drops a random fraction p anew at each pass, rescales the rest by 1/(1-p), backward uses the same mask"""
    from_scratch(LAYER_RULE, "Dropout")
    x, douts = mixed_signs(200, 100), [torch.randn(200, 100), torch.randn(200, 100)]
    result = worker.call("layer_pass", spec={"cls": "Dropout", "args": [p]}, x=x, douts=douts, train=True)
    masks = []
    for i, (out, dx, dout) in enumerate(zip(result["outs"], result["dxs"], douts), start=1):
        what = f"Dropout(p={p}), pass {i}"
        check_shape(f"{what}: forward", out, x.shape)
        kept = out != 0
        dropped = 1 - kept.double().mean().item()
        if abs(dropped - p) > 0.03:
            raise AssertionError(f"{what}: dropped a fraction {dropped:.3f} of the elements, expected about {p}")
        check_close(f"{what}: kept elements (expected x / (1 - p))", out[kept], x[kept] / (1 - p))
        check_close(f"{what}: backward (expected dout / (1 - p) where kept, 0 where dropped)",
                    dx, torch.where(kept, dout / (1 - p), torch.zeros_like(dout)))  # fmt: skip
        masks.append(~kept)
    both = (masks[0] & masks[1]).double().mean().item()
    if abs(both - p * p) > 0.03:  # two independent random masks drop the same element with probability p^2
        raise AssertionError(f"Dropout(p={p}): two forward passes dropped the same elements in a fraction {both:.3f} "
                             f"of the places, expected about p^2 = {p * p:.2f}: draw a new random mask (torch.rand_like) "
                             "at every forward pass")  # fmt: skip


def check_drops(what, out, x, p):
    """
    Evaluation mode counts only for a Dropout that drops about p of the
    elements in training mode and keeps the others (scaled by 1/(1-p), as the
    training-mode test asks, or not): an identity, or a Dropout that only
    scales, would pass the evaluation-mode checks by itself.
    """
    if tuple(out.shape) == tuple(x.shape):
        kept = out != 0
        dropped = 1 - kept.double().mean().item()
        values, inputs = out[kept].double(), x[kept].double()
        close = any(torch.allclose(values, inputs * scale, rtol=1e-4, atol=1e-6) for scale in (1.0, 1 / (1 - p)))
        if abs(dropped - p) <= 0.1 and close:
            return
    raise AssertionError(f"{what} in training mode did not drop about {p:.0%} of the elements and keep the others: "
                         "this check counts only for a Dropout that does (see the training-mode test)")  # fmt: skip


@pytest.mark.points(1)
def test_dropout_eval(worker, from_scratch):
    """Dropout in evaluation mode is the identity, forward and backward"""
    from_scratch(LAYER_RULE, "Dropout")
    x, dout = torch.randn(50, 40), torch.randn(50, 40)
    training = worker.call("layer_pass", spec={"cls": "Dropout", "args": [0.5]}, x=x, douts=[], train=True)
    check_drops("Dropout(0.5)", training["outs"][0], x, 0.5)  # the identity would pass the check below by itself
    result = worker.call("layer_pass", spec={"cls": "Dropout", "args": [0.5]}, x=x, douts=[dout], train=False)
    check_close("Dropout.forward in evaluation mode", result["outs"][0], x, atol=0, rtol=0)
    check_close("Dropout.backward in evaluation mode", result["dxs"][0], dout, atol=0, rtol=0)


# -- Sequential and MLP ---------------------------------------------------------


@pytest.mark.points(2)
def test_sequential_with_labels(worker, from_scratch):
    """Sequential(Linear, ReLU, Linear, CrossEntropyLoss) passes y to the loss; loss and all gradients"""
    from_scratch(LAYER_RULE, "Sequential", "Linear", "ReLU", "CrossEntropyLoss")
    x, y = torch.randn(12, 9), torch.randint(0, 4, (12,))
    params = [torch.randn(6, 9), torch.randn(6), torch.randn(4, 6), torch.randn(4)]
    specs = [
        {"cls": "Linear", "args": [9, 6]},
        {"cls": "ReLU"},
        {"cls": "Linear", "args": [6, 4]},
        {"cls": "CrossEntropyLoss"},
    ]
    result = worker.call("sequential_pass", specs=specs, params=params, x=x, y=y, dout=torch.tensor(1.0))

    def reference(x, w1, b1, w2, b2):
        return F.cross_entropy(torch.relu(x @ w1.T + b1) @ w2.T + b2, y)

    loss, grads = autograd(reference, [x, *params], torch.tensor(1.0))
    check_close("Sequential forward (the loss)", result["out"], loss)
    check_close("Sequential backward: dx", result["dx"], grads[0])
    for i, (got, expected) in enumerate(zip(result["grads"], grads[1:])):
        check_close(f"Sequential.params()[{i}] gradient", got, expected)


@pytest.mark.points(1)
def test_sequential_train_mode(worker):
    """Sequential.train(False) switches the layers it contains to evaluation mode"""
    x, dout = torch.randn(30, 20), torch.randn(30, 20)
    training = worker.call("sequential_pass", specs=[{"cls": "Dropout", "args": [0.5]}], params=[], x=x, dout=dout, train=True)
    check_drops("Sequential(Dropout(0.5))", training["out"], x, 0.5)  # a Dropout that never drops would pass below
    result = worker.call("sequential_pass", specs=[{"cls": "Dropout", "args": [0.5]}], params=[], x=x, dout=dout, train=False)
    check_close("Sequential(Dropout(0.5)) in evaluation mode", result["out"], x, atol=0, rtol=0)


MLP_CASES = [
    pytest.param(dict(hidden_features=[], activation="relu"), id="no-hidden"),
    pytest.param(dict(hidden_features=[16], activation="sigmoid"), id="sigmoid-1-hidden"),
    pytest.param(dict(hidden_features=[32, 16, 8], activation="tanh"), id="tanh-3-hidden"),
    pytest.param(dict(hidden_features=[10, 10], activation="lrelu", dropout=0.3), id="lrelu-dropout"),
]
ACTIVATION_KIND = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "TanH", "lrelu": "LeakyReLU"}


def expected_mlp_layers(in_features, num_classes, hidden_features, activation, dropout=0.0):
    sizes = [in_features, *hidden_features]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [("Linear", d_in, d_out), (ACTIVATION_KIND[activation],)]
        if dropout > 0:
            layers.append(("Dropout", dropout))
    return layers + [("Linear", sizes[-1], num_classes)]


def summarize(layer):
    if layer["kind"] == "Linear":
        shape = layer.get("w_shape", [None, None])
        return ("Linear", shape[1], shape[0])
    if layer["kind"] == "Dropout":
        return ("Dropout", layer.get("p"))
    return (layer["kind"],)


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", MLP_CASES)
def test_mlp_structure(worker, kwargs):
    """MLP layers: Linear, activation (and Dropout) per hidden layer, then a final Linear"""
    kwargs = dict(in_features=12, num_classes=5, **kwargs)
    layers = worker.call("mlp_structure", mlp_kwargs=kwargs)
    got = [summarize(layer) for layer in layers]
    expected = expected_mlp_layers(**kwargs)
    check_equal(f"MLP({kwargs}).sequence as (kind, in, out) / (Dropout, p)", got, expected)


def mlp_reference(x, y, params, activation):
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    h = x
    pairs = list(zip(params[0::2], params[1::2]))
    for w, b in pairs[:-1]:
        h = act(h @ w.T + b)
    w, b = pairs[-1]
    return F.cross_entropy(h @ w.T + b, y)


@pytest.mark.points(2)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_gradients(worker, from_scratch, activation):
    """Sequential(MLP, CrossEntropyLoss): loss and every gradient against autograd"""
    from_scratch(LAYER_RULE, "MLP", "Sequential", "Linear", ACTIVATION_KIND[activation], "CrossEntropyLoss")
    sizes = [10, 20, 15, 6]
    params = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        params += [torch.randn(d_out, d_in) * 0.5, torch.randn(d_out) * 0.5]
    x, y = torch.randn(25, 10), torch.randint(0, 6, (25,))
    kwargs = dict(in_features=10, num_classes=6, hidden_features=[20, 15], activation=activation)
    result = worker.call("mlp_loss_pass", mlp_kwargs=kwargs, params=params, x=x, y=y)
    loss, grads = autograd(lambda x, *p: mlp_reference(x, y, p, activation), [x, *params], torch.tensor(1.0))
    check_close(f"MLP ({activation}) loss", result["loss"], loss)
    check_close(f"MLP ({activation}) backward: dx", result["dx"], grads[0])
    for i, (got, expected) in enumerate(zip(result["grads"], grads[1:])):
        check_close(f"MLP ({activation}) params()[{i}] gradient", got, expected)


@pytest.mark.points(1)
def test_mlp_eval_mode_ignores_dropout(worker, from_scratch):
    """An MLP with dropout in evaluation mode computes the same loss as one without dropout"""
    from_scratch(LAYER_RULE, "MLP", "Sequential", "Linear", "ReLU", "Dropout", "CrossEntropyLoss")
    x = torch.randn(50, 40)
    training = worker.call("layer_pass", spec={"cls": "Dropout", "args": [0.5]}, x=x, douts=[], train=True)
    check_drops("Dropout(0.5)", training["outs"][0], x, 0.5)  # an MLP without dropout would pass by itself
    params = [torch.randn(8, 5), torch.randn(8), torch.randn(3, 8), torch.randn(3)]
    x, y = torch.randn(20, 5), torch.randint(0, 3, (20,))
    kwargs = dict(in_features=5, num_classes=3, hidden_features=[8], activation="relu", dropout=0.5)
    result = worker.call("mlp_loss_pass", mlp_kwargs=kwargs, params=params, x=x, y=y, train=False)
    loss, grads = autograd(lambda x, *p: mlp_reference(x, y, p, "relu"), [x, *params], torch.tensor(1.0))
    check_close("MLP with dropout, evaluation mode: loss", result["loss"], loss)
    check_close("MLP with dropout, evaluation mode: dx", result["dx"], grads[0])


@pytest.mark.points(2)
def test_mlp_reference_asset(worker, from_scratch):
    """A tanh MLP with fixed parameters reproduces the reference tensors in tests/assets"""
    from_scratch(LAYER_RULE, "MLP", "Sequential", "Linear", "TanH", "CrossEntropyLoss")
    ref = torch.load(ASSETS_DIR / "part1_reference.pt", weights_only=True)
    kwargs = dict(in_features=ref["in_features"], num_classes=ref["num_classes"],
                  hidden_features=ref["hidden_features"], activation="tanh")
    # The asset is the students' too, so its answer could be looked up: it counts only for an MLP that also
    # computes a case drawn at grading time (the course's secret draws it) as PyTorch does.
    params = [torch.randn_like(p) for p in ref["params"]]
    x, y = torch.randn_like(ref["x"]), torch.randint(0, ref["num_classes"], ref["y"].shape)
    drawn = worker.call("mlp_loss_pass", mlp_kwargs=kwargs, params=params, x=x, y=y)
    loss, grads = autograd(lambda x, *p: mlp_reference(x, y, p, "tanh"), [x, *params], torch.tensor(1.0))
    try:
        check_close("MLP (tanh) loss", drawn["loss"], loss)
        check_close("MLP (tanh) dx", drawn["dx"], grads[0])
        for i, (got, expected) in enumerate(zip(drawn["grads"], grads[1:])):
            check_close(f"MLP (tanh) params()[{i}] gradient", got, expected)
    except AssertionError as exc:
        raise AssertionError(f"the reference tensors count only for an MLP that computes a case drawn for this test "
                             f"too: {exc}") from None  # fmt: skip
    result = worker.call("mlp_loss_pass", mlp_kwargs=kwargs, params=ref["params"], x=ref["x"], y=ref["y"])
    check_close("reference MLP loss", result["loss"], ref["loss"])
    check_close("reference MLP dx", result["dx"], ref["dx"])
    for i, (got, expected) in enumerate(zip(result["grads"], ref["grads"])):
        check_close(f"reference MLP params()[{i}] gradient", got, expected)
