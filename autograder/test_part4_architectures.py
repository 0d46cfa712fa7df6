"""
Hidden tests for Part 4: CNN, residual blocks, ResNet, VGGNet and NiNNet.

Structure: each named part's layer classes and the state dict's keys and
shapes against a reference built here (reference_models.py). Values: one
explicit state dict, drawn here, loaded into the reference and into the
student's model; outputs (and input gradients) compared in eval mode. The
configurations differ from the notebook's.
"""
import pytest
import torch
from checks import check_close, check_equal

import reference_models as ref
from course.authoring.assets import explicit_state

CNN_CASES = [
    pytest.param(dict(in_size=(3, 28, 28), out_classes=7, channels=[6, 8, 8, 12], pool_every=2, hidden_dims=[20, 12]),
                 id="defaults"),
    pytest.param(dict(in_size=(1, 30, 26), out_classes=4, channels=[5] * 5, pool_every=2, hidden_dims=[10],
                      conv_params=dict(kernel_size=3, stride=1, padding=0), activation_type="lrelu",
                      activation_params=dict(negative_slope=0.2), pooling_type="avg",
                      pooling_params=dict(kernel_size=2, stride=2)), id="5-convs-pool-every-2-avg-lrelu"),
    pytest.param(dict(in_size=(3, 32, 32), out_classes=5, channels=[4, 8, 8], pool_every=3, hidden_dims=[],
                      conv_params=dict(kernel_size=5, stride=2, padding=2), activation_type="tanh",
                      pooling_type="max", pooling_params=dict(kernel_size=3, stride=2)), id="strided-no-hidden-tanh"),
    pytest.param(dict(in_size=(2, 16, 16), out_classes=3, channels=[4, 6, 6, 8], pool_every=3, hidden_dims=[8],
                      activation_type="elu", activation_params=dict(alpha=0.5)), id="pool-every-3-of-4-elu"),
]  # fmt: skip

BLOCK_CASES = [
    pytest.param(dict(in_channels=4, channels=[6, 4], kernel_sizes=[3, 3]), id="identity-shortcut"),
    pytest.param(dict(in_channels=3, channels=[5, 7, 6], kernel_sizes=[3, 5, 1], batchnorm=True), id="projection-batchnorm"),
    pytest.param(dict(in_channels=5, channels=[5], kernel_sizes=[5], dropout=0.3, activation_type="lrelu",
                      activation_params=dict(negative_slope=0.3)), id="one-conv-dropout"),
    pytest.param(dict(in_channels=6, channels=[4, 8], kernel_sizes=[3, 3], batchnorm=True, dropout=0.2,
                      activation_type="tanh"), id="projection-dropout-batchnorm-tanh"),
]  # fmt: skip

BOTTLENECK_CASES = [
    pytest.param(dict(in_out_channels=16, inner_channels=[4], inner_kernel_sizes=[3]), id="16-4-16"),
    pytest.param(dict(in_out_channels=12, inner_channels=[6, 3], inner_kernel_sizes=[3, 5], batchnorm=True,
                      dropout=0.1, activation_type="lrelu"), id="12-6-3-12-batchnorm"),
]  # fmt: skip

RESNET_CASES = [
    pytest.param(dict(in_size=(3, 16, 16), out_classes=6, channels=[6, 8, 8], pool_every=2, hidden_dims=[16]),
                 id="pool-every-2-of-3"),
    pytest.param(dict(in_size=(3, 20, 20), out_classes=4, channels=[8, 4, 8] * 3, pool_every=3, hidden_dims=[12],
                      batchnorm=True, dropout=0.1, bottleneck=True, activation_type="lrelu",
                      pooling_type="avg"), id="bottleneck-batchnorm"),
    pytest.param(dict(in_size=(2, 18, 18), out_classes=3, channels=[4, 4, 8, 8], pool_every=4, hidden_dims=[],
                      bottleneck=True, activation_type="tanh", pooling_params=dict(kernel_size=3)),
                 id="bottleneck-that-does-not-apply"),
]  # fmt: skip


VGG_CASES = [
    pytest.param(dict(in_size=(3, 16, 16), out_classes=5, channels=[4, 4, 8], pool_every=2, hidden_dims=[12]),
                 id="plain"),
    pytest.param(dict(in_size=(3, 20, 20), out_classes=6, channels=[4, 8, 8, 8], pool_every=2, hidden_dims=[16, 8],
                      batchnorm=True, dropout=0.25, activation_type="lrelu"), id="batchnorm-dropout"),
]  # fmt: skip

NIN_CASES = [
    pytest.param(dict(in_size=(3, 16, 16), out_classes=5, channels=[6, 8], kernel_sizes=[5, 3]), id="two-blocks"),
    pytest.param(dict(in_size=(3, 20, 20), out_classes=4, channels=[4, 6, 8], kernel_sizes=[3, 3, 1], batchnorm=True,
                      dropout=0.2, activation_type="elu"), id="three-blocks-batchnorm-dropout"),
]  # fmt: skip


def describe(cls, kwargs):
    return f"{cls}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def check_structure(worker, cls, kwargs):
    """The layers of each named part and the state dict's keys and shapes, against the reference."""
    reference = ref.BUILDERS[cls](**kwargs)
    got = worker.call("architecture_pass", cls=cls, kwargs=kwargs)
    what = describe(cls, kwargs)
    for part, expected in ref.block_names(reference).items():
        check_equal(f"{what}: the layers of {part}", got["parts"].get(part), expected)
    expected_shapes = {k: list(v.shape) for k, v in reference.state_dict().items()}
    missing = sorted(set(expected_shapes) - set(got["state_shapes"]))
    unexpected = sorted(set(got["state_shapes"]) - set(expected_shapes))
    if missing or unexpected:
        raise AssertionError(f"{what}: state dict keys differ: missing {missing[:4]}, unexpected {unexpected[:4]}")
    for key, shape in expected_shapes.items():
        check_equal(f"{what}: shape of {key}", got["state_shapes"][key], shape)
    check_equal(f"{what}: number of parameters", got["num_parameters"], sum(p.numel() for p in reference.parameters()))


def check_values(worker, cls, kwargs, x_shape, with_gradient=False):
    """Output (and input gradient) with one explicit state dict, in eval mode, against the reference."""
    reference = ref.BUILDERS[cls](**kwargs)
    state = explicit_state(reference, torch.Generator().manual_seed(7))
    reference.load_state_dict(state)
    reference.eval()
    x = torch.randn(x_shape).requires_grad_(with_gradient)
    out = reference(x)
    dout = torch.randn(out.shape) if with_gradient else None
    if with_gradient:
        out.backward(dout)
    got = worker.call("architecture_pass", cls=cls, kwargs=kwargs, state=state, x=x.detach(), dout=dout)
    what = describe(cls, kwargs)
    check_close(f"{what} with a given state dict, in eval mode: output", got["out"], out.detach(), atol=1e-5, rtol=1e-4)
    if with_gradient:
        check_close(f"{what}: gradient of the input", got["dx"], x.grad, atol=1e-5, rtol=1e-4)


def image_batch(in_size):
    return (2, *in_size)


# -- CNN -------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", CNN_CASES)
def test_cnn_structure(worker, kwargs):
    """CNN: the layers of feature_extractor and classifier, and the parameters' names and shapes"""
    check_structure(worker, "CNN", kwargs)


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", CNN_CASES)
def test_cnn_output(worker, kwargs):
    """CNN: the scores with a given state dict"""
    check_values(worker, "CNN", kwargs, image_batch(kwargs["in_size"]))


@pytest.mark.points(1)
def test_cnn_refuses_unknown_names(worker):
    """CNN: an unknown activation or pooling type is a ValueError"""
    base = dict(in_size=(3, 8, 8), out_classes=2, channels=[4], pool_every=1, hidden_dims=[])
    # A constructor that always raises, or that checks the names and builds nothing, would pass the checks below by
    # itself: they count only for a CNN that builds the network of known names.
    try:
        check_values(worker, "CNN", base, image_batch(base["in_size"]))
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n(this check counts only for a CNN that builds the network of known names)") from None
    for bad in (dict(activation_type="swish"), dict(pooling_type="median")):
        error = worker.call("construction_error", cls="CNN", kwargs={**base, **bad})
        if error is None or error[0] != "ValueError":
            got = "nothing" if error is None else f"{error[0]}: {error[1]}"
            raise AssertionError(f"{describe('CNN', bad)}: expected a ValueError, got {got}")


# -- residual blocks ---------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", BLOCK_CASES)
def test_residual_block_structure(worker, kwargs):
    """ResidualBlock: main path in order (conv, dropout, batchnorm, activation), shortcut exactly when channels change"""
    check_structure(worker, "ResidualBlock", kwargs)


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", BLOCK_CASES)
def test_residual_block_values(worker, kwargs):
    """ResidualBlock: output and input gradient (through both paths) with a given state dict"""
    check_values(worker, "ResidualBlock", kwargs, (2, kwargs["in_channels"], 7, 9), with_gradient=True)


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", BOTTLENECK_CASES)
def test_bottleneck_block(worker, kwargs):
    """ResidualBottleneckBlock: 1x1 down, the inner convolutions, 1x1 up, identity shortcut; output and input gradient"""
    check_structure(worker, "ResidualBottleneckBlock", kwargs)
    check_values(worker, "ResidualBottleneckBlock", kwargs, (2, kwargs["in_out_channels"], 6, 6), with_gradient=True)


# -- ResNet ------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", RESNET_CASES)
def test_resnet_structure(worker, kwargs):
    """ResNet: residual blocks of pool_every convolutions with pooling between them, bottlenecks where they apply"""
    check_structure(worker, "ResNet", kwargs)


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", RESNET_CASES)
def test_resnet_output(worker, kwargs):
    """ResNet: the scores with a given state dict"""
    check_values(worker, "ResNet", kwargs, image_batch(kwargs["in_size"]))


# -- VGG and NiN -------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", VGG_CASES)
def test_vgg(worker, kwargs):
    """VGGNet: 3x3 convolutions with optional BatchNorm2d, max pooling, Dropout2d after pooling and Dropout in the head; its scores"""
    check_structure(worker, "VGGNet", kwargs)
    check_values(worker, "VGGNet", kwargs, image_batch(kwargs["in_size"]))


@pytest.mark.points(1)
@pytest.mark.parametrize("kwargs", NIN_CASES)
def test_nin(worker, kwargs):
    """NiNNet: mlpconv blocks (KxK then two 1x1 convolutions), pooling between them, global average pooling; its scores"""
    check_structure(worker, "NiNNet", kwargs)
    check_values(worker, "NiNNet", kwargs, image_batch(kwargs["in_size"]))
