"""
Hidden tests for Part 6: feature maps, filters and attribution maps (hw/interpret.py).

Every map is compared with captum's, computed here on the same network and
inputs: saliency with Saliency (reduced by the max over channels), guided
backpropagation with GuidedBackprop, Grad-CAM with LayerGradCam (ReLU, then
bilinear upsampling), and CAM with LayerGradCam without ReLU at the feature
maps, times the number of positions (for a GAP network Grad-CAM's weights are
the linear layer's divided by h * w). Two properties follow: Grad-CAM of a
network trained here on Shapes images peaks on the shape, and the maps of a
network with re-drawn weights differ from the trained network's (a map that
ignores the model fails).
"""
import warnings

import pytest
import torch
import torch.nn.functional as F
from checks import check_close, check_equal, check_shape

import hw.data
import hw.interpret
from hw.data import SHAPE_CLASSES, make_shapes
from hw.interpret import GAPNet  # the instructor's copy: probes_part6.ProbeGAPNet takes its state dicts

CHANNELS = [6, 8, 10]
NUM_CLASSES = 5


def random_net(channels=CHANNELS, num_classes=NUM_CLASSES, in_channels=3):
    """A GAPNet with weights drawn here (the test's seed), in eval mode, and its state dict."""
    net = GAPNet(in_channels, num_classes, channels).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.4 if p.dim() > 1 else 0.1)
    return net, {k: v.clone() for k, v in net.state_dict().items()}


def captum(method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captum warns that it sets requires_grad on the inputs
        return method(*args, **kwargs)


def reference_map(function, net, x, target, layer=None):
    """captum's counterpart of the student's ``function``, as the docstrings of hw/interpret.py define them."""
    # Imported here, not at the top: on Gradescope the suite shares the container's memory with the worker, and by
    # Part 6 the YourCNN training's peak is over (the grader's own fork server preloads captum).
    from captum.attr import GuidedBackprop, LayerAttribution, LayerGradCam, Saliency

    if function == "saliency":
        return captum(Saliency(net).attribute, x, target=target, abs=True).amax(dim=1)
    if function == "guided_backprop":
        return captum(GuidedBackprop(net).attribute, x, target=target)
    if function == "cam":
        signed = captum(LayerGradCam(net, net.features[-1]).attribute, x, target=target)[:, 0]
        return signed * signed.shape[-1] * signed.shape[-2]
    coarse = captum(LayerGradCam(net, net.features[layer]).attribute, x, target=target, relu_attributions=True)
    return LayerAttribution.interpolate(coarse, tuple(x.shape[-2:]), interpolate_mode="bilinear")[:, 0]


def drawn_case(function, shape, target, layer):
    """
    A network, images and captum's map for them, drawn until the case tells
    right from wrong: the map varies in every image (a map that is 0
    everywhere would be matched by a function that returns zeros), and for
    Grad-CAM, every image has negative evidence for its ReLU to cut.
    """
    target = torch.tensor(target) if isinstance(target, list) else target
    for _ in range(50):
        net, state = random_net()
        x = torch.rand(shape)
        expected = reference_map(function, net, x, target, layer)
        scale = float(expected.abs().max())
        spread = expected.flatten(1).amax(dim=1) - expected.flatten(1).amin(dim=1)
        varies = scale > 1e-6 and bool((spread > 1e-4 * scale).all())
        if varies and function == "grad_cam":
            from captum.attr import LayerGradCam

            signed = captum(LayerGradCam(net, net.features[layer]).attribute, x, target=target)
            varies = bool((signed.flatten(1).amin(dim=1) < -1e-3 * signed.abs().max()).all())
        if varies:
            return net, state, x, expected
    raise RuntimeError(f"no case of {function} that tells right from wrong in 50 draws")  # the harness's problem


def call_args(target):
    return torch.tensor(target) if isinstance(target, list) else target


CASES = [  # function, images (N, C, H, W), target, layer of model.features (grad_cam)
    ("saliency", (3, 3, 16, 16), 2, None),
    ("saliency", (4, 3, 12, 20), [0, 4, 1, 1], None),
    ("guided_backprop", (3, 3, 16, 16), 1, None),
    ("guided_backprop", (4, 3, 12, 20), [3, 0, 2, 2], None),
    ("cam", (3, 3, 16, 16), 4, None),
    ("cam", (4, 3, 12, 20), [1, 2, 3, 0], None),
    ("grad_cam", (3, 3, 16, 16), 0, -1),
    ("grad_cam", (4, 3, 12, 20), [2, 2, 4, 1], -1),
    ("grad_cam", (3, 3, 16, 16), 3, 4),
]  # fmt: skip
CASE_IDS = [f"{f}-{'x'.join(map(str, s))}-{'per-image' if isinstance(t, list) else 'one'}-target" + (f"-layer{l}" if l is not None else "")
            for f, s, t, l in CASES]  # fmt: skip


@pytest.mark.points(1)
@pytest.mark.parametrize("function, shape, target, layer", CASES, ids=CASE_IDS)
def test_map_matches_captum(worker, function, shape, target, layer):
    """Attribution maps: the same values as captum's on a small GAP network"""
    net, state, x, expected = drawn_case(function, shape, target, layer)
    got = worker.call("attribution_pass", function=function, channels=CHANNELS, num_classes=NUM_CLASSES,
                      state=state, x=x, target=call_args(target), layer=layer)  # fmt: skip
    where = f" at model.features[{layer}]" if layer is not None else ""
    check_close(f"{function}{where} for images {tuple(shape)} and target {target}", got["map"], expected)


def check_behaviour(after, net, x, what):
    """
    The model computes what the harness's copy computes after the student's
    function (its output and input gradient for ``x``): a hook left behind
    that changes either fails, judged from behaviour, not from what the worker
    says about the model's hooks.
    """
    x = x.clone().requires_grad_(True)
    out = net(x)
    (dx,) = torch.autograd.grad(out.sum(), x)
    check_close(f"the model's output after {what} (a hook left on the model changes it)", after["out"], out.detach())
    check_close(f"the model's input gradient after {what} (a hook left on the model changes it)", after["dx"], dx)


@pytest.mark.points(1)
@pytest.mark.parametrize("function", ["saliency", "guided_backprop", "cam", "grad_cam"])
def test_map_leaves_no_hooks(worker, function):
    """Attribution maps: every hook added to the model is removed before the function returns"""
    check_exact_first(worker, function, -1 if function == "grad_cam" else None)  # a function that does nothing adds no hook
    net, state = random_net()
    check_x = torch.rand(3, 3, 16, 16) - 0.5
    got = worker.call("attribution_pass", function=function, channels=CHANNELS, num_classes=NUM_CLASSES, state=state,
                      x=torch.rand(2, 3, 16, 16), target=1, layer=-1 if function == "grad_cam" else None, check_x=check_x)  # fmt: skip
    check_behaviour(got["after"], net, check_x, function)


FEATURE_CASES = [["features.0"], ["features.4", "features.1", "classifier.0"]]


@pytest.mark.points(1)
@pytest.mark.parametrize("layers", FEATURE_CASES, ids=["one-layer", "three-layers-out-of-order"])
def test_feature_maps(worker, layers):
    """feature_maps: each named layer's output, in the order asked, and no hook left"""
    net, state = random_net()
    x = torch.rand(2, 3, 16, 16)
    got = worker.call("feature_maps_pass", channels=CHANNELS, num_classes=NUM_CLASSES, state=state, x=x, layers=layers)
    check_equal("feature_maps' keys", got["order"], layers)
    modules = dict(net.named_modules())
    expected = {}
    handles = [modules[name].register_forward_hook(lambda m, i, o, name=name: expected.__setitem__(name, o.detach()))
               for name in layers]  # fmt: skip
    with torch.no_grad():
        net(x)
    for handle in handles:
        handle.remove()
    for name in layers:
        check_close(f"feature_maps(...)[{name!r}]", got["maps"][name], expected[name])
    check_behaviour(got["after"], net, x, "feature_maps")


@pytest.mark.points(1)
def test_feature_maps_unknown_layer(worker):
    """feature_maps: a name the model does not have raises KeyError, and leaves no hook"""
    net, state = random_net()
    x = torch.rand(2, 3, 8, 8)
    got = worker.call("feature_maps_pass", channels=CHANNELS, num_classes=NUM_CLASSES, state=state, x=x, layers=["features.0"])
    with torch.no_grad():
        expected = net.features[0](x)
    try:
        check_close("feature_maps(...)['features.0']", got["maps"].get("features.0"), expected)
    except AssertionError as exc:  # a function that always raises KeyError raises it for an unknown name too
        raise AssertionError(f"this check counts only for a feature_maps that returns the maps of the layers the "
                             f"model has: {exc}") from None  # fmt: skip
    x = torch.rand(2, 3, 8, 8)
    got = worker.call("unknown_layer_error", channels=CHANNELS, num_classes=NUM_CLASSES, state=state, x=x)
    check_equal("what feature_maps raised for the layer name 'no.such.layer'", got["raised"], "KeyError")
    check_behaviour(got["after"], net, x, "feature_maps raised")


def reference_normalised(maps):
    low = maps.amin(dim=(1, 2), keepdim=True)
    spread = maps.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(spread > 0, (maps - low) / torch.where(spread > 0, spread, torch.ones_like(spread)), 0.0)


@pytest.mark.points(1)
def test_normalise_channels(worker):
    """normalise_channels: every channel scaled to [0, 1] on its own; a constant channel becomes zeros"""
    maps = torch.randn(4, 5, 7) * torch.tensor([1.0, 10.0, 0.01, 3.0])[:, None, None] + 2
    maps[2] = 0.7  # constant
    got = worker.call("tensor_function", function="normalise_channels", args=[maps])
    check_close("normalise_channels of maps (4, 5, 7) whose channel 2 is constant", got, reference_normalised(maps))


def reference_filter_grid(weight, ncols, pad):
    num, channels, k, _ = weight.shape
    cols = min(ncols, num)
    rows = -(-num // cols)
    grid = torch.ones(channels, rows * k + (rows - 1) * pad, cols * k + (cols - 1) * pad)
    for f in range(num):
        w = weight[f]
        spread = w.max() - w.min()
        cell = (w - w.min()) / spread if spread > 0 else torch.zeros_like(w)
        r, c = divmod(f, cols)
        grid[:, r * (k + pad) : r * (k + pad) + k, c * (k + pad) : c * (k + pad) + k] = cell
    return grid


FILTER_CASES = [((10, 3, 5, 5), 4, 1), ((3, 1, 3, 3), 8, 2)]


@pytest.mark.points(1)
@pytest.mark.parametrize("shape, ncols, pad", FILTER_CASES, ids=["10-rgb-filters-4-columns", "3-grey-filters-8-columns"])
def test_filter_grid(worker, shape, ncols, pad):
    """filter_grid: filters normalised one by one, row by row in a grid of ones"""
    weight = torch.randn(shape)
    weight[1] = 0.5  # a constant filter
    got = worker.call("tensor_function", function="filter_grid", args=[weight, ncols, pad])
    check_close(f"filter_grid of weights {shape} with ncols={ncols}, pad={pad}", got, reference_filter_grid(weight, ncols, pad))


# -- properties on a network trained here ------------------------------------------------------

LOCALISATION_NET = dict(channels=[16, 32, 32], epochs=6, batch_size=32, lr=3e-3, train_images=2000, seed=0)
LOCALISATION_TRAIN_SEED = 7  # the harness's own network; its test images come from the course's secret
LOCALISATION_IMAGES = 300
BOX_MARGIN = 2  # pixels: half a cell of the last feature maps (32 / 8 = 4 pixels a cell)
LOCALISATION_RATE = 90.0  # percent of the correctly classified images


def train_localisation_net():
    """The network whose Grad-CAM must find the shapes: a GAPNet trained on Shapes images, as plain JSON data."""
    settings = LOCALISATION_NET
    torch.manual_seed(settings["seed"])
    x, y, _ = make_shapes(settings["train_images"], LOCALISATION_TRAIN_SEED)
    net = GAPNet(3, len(SHAPE_CLASSES), settings["channels"])
    optimizer = torch.optim.Adam(net.parameters(), settings["lr"])
    for _ in range(settings["epochs"]):
        for batch in torch.randperm(len(x)).split(settings["batch_size"]):
            loss = F.cross_entropy(net(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return {k: v.tolist() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def localisation_net(reference_training):
    code = [__file__, hw.interpret.__file__, hw.data.__file__]  # the training, the network, the images
    state = reference_training("part6-localisation", LOCALISATION_NET, code, train_localisation_net)
    state = {k: torch.tensor(v) for k, v in state.items()}
    net = GAPNet(3, len(SHAPE_CLASSES), LOCALISATION_NET["channels"]).eval()
    net.load_state_dict(state)
    return net, state


def peaks_inside(maps, boxes, margin):
    """Whether each map's largest value lies in its box (x1, y1, x2, y2), widened by margin pixels."""
    width = maps.shape[-1]
    flat = maps.flatten(1).argmax(dim=1)
    rows, cols = flat // width, flat % width
    x1, y1, x2, y2 = (boxes + torch.tensor([-margin, -margin, margin, margin])).unbind(dim=1)
    return (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)


def check_exact_first(worker, function, layer):
    """
    The properties below award nothing to a map that does not compute what
    the function's docstring says: the map must first equal captum's on a
    network drawn here (a map made from the image alone passes no property).
    """
    target = [0, 3, 1]
    net, state, x, expected = drawn_case(function, (3, 3, 16, 16), target, layer)
    got = worker.call("attribution_pass", function=function, channels=CHANNELS, num_classes=NUM_CLASSES, state=state,
                      x=x, target=torch.tensor(target), layer=layer)  # fmt: skip
    try:
        check_close(f"{function}", got["map"], expected)
    except AssertionError as exc:
        raise AssertionError(f"this property is checked only for a {function} that matches captum's, and it does not: {exc}") from None


@pytest.mark.points(2)
def test_grad_cam_finds_the_shapes(worker, localisation_net, held_out_for_code):
    """Grad-CAM at the last feature maps of a network trained on Shapes peaks on the shape, on at least 90% of the images it classifies correctly"""
    check_exact_first(worker, "grad_cam", -1)
    net, state = localisation_net
    x, y, boxes = make_shapes(LOCALISATION_IMAGES, held_out_for_code("grad-cam-localisation-images"))
    with torch.no_grad():
        correct = net(x).argmax(dim=1) == y
    got = worker.call("attribution_pass", function="grad_cam", channels=LOCALISATION_NET["channels"],
                      num_classes=len(SHAPE_CLASSES), state=state, x=x, target=y, layer=-1)  # fmt: skip
    check_shape(f"grad_cam of {LOCALISATION_IMAGES} Shapes images (3, 32, 32)", got["map"], (LOCALISATION_IMAGES, 32, 32))
    rate = 100.0 * peaks_inside(got["map"], boxes, BOX_MARGIN)[correct].float().mean().item()
    if rate < LOCALISATION_RATE:
        raise AssertionError(
            f"Grad-CAM's largest value was on the shape (its box, {BOX_MARGIN} pixels wider) for {rate:.0f}% of the "
            f"{int(correct.sum())} correctly classified images; expected at least {LOCALISATION_RATE:.0f}%"
        )


SANITY_CORRELATION = 0.5  # mean correlation, trained vs re-drawn weights, above which a map ignores the model
REDRAWS = 3


def mean_correlation(a, b):
    """Mean over images of the Pearson correlation of two maps; a constant map counts as uncorrelated."""
    a, b = a.flatten(1), b.flatten(1)
    a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
    norms = a.norm(dim=1) * b.norm(dim=1)
    r = torch.where(norms > 0, (a * b).sum(dim=1) / norms.clamp_min(1e-30), torch.zeros_like(norms))
    return r.mean().item()


@pytest.mark.points(1)
@pytest.mark.parametrize("function", ["saliency", "grad_cam"])
def test_map_depends_on_the_weights(worker, localisation_net, held_out_for_code, function):
    """Sanity check (model randomisation): the maps of the trained network and of one with re-drawn weights differ"""
    check_exact_first(worker, function, -1 if function == "grad_cam" else None)
    _, state = localisation_net
    x, y, _ = make_shapes(40, held_out_for_code("model-randomisation-images"))
    # PyTorch's initialisation, drawn REDRAWS times: one draw alone can resemble the trained network by chance (the
    # reference Grad-CAM's correlation with one draw is 0.16 +- 0.16, above 0.5 in about 2 % of draws)
    redrawn = [GAPNet(3, len(SHAPE_CLASSES), LOCALISATION_NET["channels"]).state_dict() for _ in range(REDRAWS)]
    maps = [worker.call("attribution_pass", function=function, channels=LOCALISATION_NET["channels"],
                        num_classes=len(SHAPE_CLASSES), state=s, x=x, target=y, layer=-1 if function == "grad_cam" else None)["map"]
            for s in (state, *redrawn)]  # fmt: skip
    r = sum(mean_correlation(maps[0], other) for other in maps[1:]) / REDRAWS
    if not r < SANITY_CORRELATION:
        raise AssertionError(
            f"{function}: the maps of the trained network and of the same network with {REDRAWS} sets of re-drawn weights have a mean "
            f"correlation of {r:.2f} (expected below {SANITY_CORRELATION}): the map hardly depends on the model"
        )
