"""
Reference tensors for the visible and hidden tests, computed from the solution.

Every input and parameter is drawn from a generator seeded here and set
explicitly, so the references never depend on how a solution consumes random
numbers. Files are rewritten only when their content changes, because
torch.save output is not byte-reproducible.
"""
import contextlib
import io
import math
from pathlib import Path

import torch

from course import ASSETS_DIR


def part1_reference():
    """A small tanh MLP with explicit parameters, its loss and all gradients."""
    from hw import layers

    gen = torch.Generator().manual_seed(2024)
    in_features, num_classes, hidden = 12, 5, [16, 8]
    mlp = layers.MLP(in_features, num_classes, hidden_features=hidden, activation="tanh")
    params = [torch.randn(p.shape, generator=gen) * 0.5 for p, _ in mlp.params()]
    for (p, dp), value in zip(mlp.params(), params):
        p.copy_(value)
        dp.zero_()
    x = torch.randn(7, in_features, generator=gen)
    y = torch.randint(0, num_classes, (7,), generator=gen)
    model = layers.Sequential(mlp, layers.CrossEntropyLoss())
    loss = model(x, y=y)
    dx = model.backward(torch.tensor(1.0))
    return {
        "in_features": in_features,
        "num_classes": num_classes,
        "hidden_features": hidden,
        "x": x,
        "y": y,
        "params": params,
        "loss": loss,
        "dx": dx,
        "grads": [dp.clone() for _, dp in mlp.params()],
    }


PART2_OPTIMIZERS = {  # class name -> keyword arguments
    "VanillaSGD": dict(learn_rate=0.2, reg=1e-3),
    "MomentumSGD": dict(learn_rate=0.05, reg=1e-3, momentum=0.9),
    "RMSProp": dict(learn_rate=3e-3, reg=1e-3),
    "Adam": dict(learn_rate=3e-3, reg=1e-3),
}


def part2_reference():
    """
    The whole Part 2 stack (MLP, each optimizer, LayerTrainer.fit) on 60
    digits with explicit initial parameters, no shuffling and no dropout: the
    per-epoch results and the final parameters of each run.
    """
    from torch.utils.data import DataLoader, TensorDataset

    from hw import layers, optimizers, training
    from hw.data import Digits

    digits = Digits(train=True)
    x, y = digits.images[:60].clone(), digits.targets[:60].clone()  # clones: a view would save all images
    gen = torch.Generator().manual_seed(2025)
    hidden = [32, 32]
    shapes = [p.shape for p, _ in layers.MLP(64, 10, hidden_features=hidden).params()]
    params = [torch.randn(shape, generator=gen) * 0.1 for shape in shapes]
    runs = {}
    for name, kwargs in PART2_OPTIMIZERS.items():
        mlp = layers.MLP(64, 10, hidden_features=hidden)
        mlp.load_state_dict(params)
        optimizer = getattr(optimizers, name)(mlp.params(), **kwargs)
        trainer = training.LayerTrainer(mlp, layers.CrossEntropyLoss(), optimizer)
        dl_train = DataLoader(TensorDataset(x[:40], y[:40]), batch_size=10)
        dl_test = DataLoader(TensorDataset(x[40:], y[40:]), batch_size=10)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # fit reports its last epoch
            fit = trainer.fit(dl_train, dl_test, num_epochs=3, print_every=10)
        runs[name] = {"kwargs": kwargs, "fit": fit._asdict(), "final_params": mlp.state_dict()}
    return {"x": x, "y": y, "hidden_features": hidden, "params": params, "runs": runs}


PART4_CASES = {  # class name -> list of (keyword arguments, input shape)
    "CNN": [
        (dict(in_size=(3, 20, 20), out_classes=10, channels=[8] * 4, pool_every=2, hidden_dims=[16] * 2,
              conv_params=dict(kernel_size=3, stride=1, padding=1), activation_type="relu",
              pooling_type="max", pooling_params=dict(kernel_size=2)), (2, 3, 20, 20)),
        (dict(in_size=(3, 40, 40), out_classes=10, channels=[8] * 4, pool_every=2, hidden_dims=[16] * 2,
              conv_params=dict(kernel_size=5, stride=2, padding=3), activation_type="lrelu",
              activation_params=dict(negative_slope=0.05), pooling_type="avg", pooling_params=dict(kernel_size=3)),
         (2, 3, 40, 40)),
        (dict(in_size=(3, 24, 24), out_classes=3, channels=[6] * 5, pool_every=3, hidden_dims=[16],
              conv_params=dict(kernel_size=2, stride=2, padding=2), activation_type="lrelu",
              activation_params=dict(negative_slope=0.1), pooling_type="max", pooling_params=dict(kernel_size=2)),
         (2, 3, 24, 24)),
    ],
    "ResidualBlock": [
        (dict(in_channels=3, channels=[6, 4] * 2, kernel_sizes=[3, 5] * 2, batchnorm=True, dropout=0.2), (2, 3, 12, 12)),
    ],
    "ResidualBottleneckBlock": [
        (dict(in_out_channels=32, inner_channels=[8, 4, 8], inner_kernel_sizes=[3, 5, 3], dropout=0.1,
              activation_type="lrelu"), (2, 32, 10, 10)),
    ],
    "ResNet": [
        (dict(in_size=(3, 24, 24), out_classes=10, channels=[8, 16] * 3, pool_every=4, hidden_dims=[16] * 2,
              activation_type="lrelu", activation_params=dict(negative_slope=0.01), pooling_type="avg",
              pooling_params=dict(kernel_size=2), batchnorm=True, dropout=0.1), (2, 3, 24, 24)),
        (dict(in_size=(3, 24, 24), out_classes=5, channels=[16, 4, 16] * 4, pool_every=3, hidden_dims=[16],
              activation_type="tanh", pooling_type="max", pooling_params=dict(kernel_size=2), batchnorm=True,
              dropout=0.1, bottleneck=True), (2, 3, 24, 24)),
    ],
    "VGGNet": [
        (dict(in_size=(3, 24, 24), out_classes=10, channels=[8, 8, 16, 16], pool_every=2, hidden_dims=[32],
              batchnorm=True, dropout=0.2), (2, 3, 24, 24)),
    ],
    "NiNNet": [
        (dict(in_size=(3, 24, 24), out_classes=10, channels=[8, 16, 16], kernel_sizes=[5, 3, 3], batchnorm=True,
              dropout=0.2), (2, 3, 24, 24)),
    ],
}  # fmt: skip


def explicit_state(module, gen):
    """
    A state dict for ``module`` drawn from ``gen``: weights scaled by their
    fan-in, biases small, BatchNorm's scale near 1 and running variance
    positive. Loading it makes a model's output independent of how it drew
    its own initial weights.
    """
    batchnorm_scales = {f"{name}.weight" for name, m in module.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    state = {}
    for name, value in module.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = value.clone()
        elif name.endswith("running_var"):
            state[name] = torch.rand(value.shape, generator=gen) * 0.5 + 0.75
        elif name.endswith("running_mean"):
            state[name] = torch.randn(value.shape, generator=gen) * 0.1
        elif name in batchnorm_scales:
            state[name] = 1 + 0.1 * torch.randn(value.shape, generator=gen)
        elif value.dim() >= 2:
            state[name] = torch.randn(value.shape, generator=gen) / math.sqrt(value[0].numel())
        else:
            state[name] = torch.randn(value.shape, generator=gen) * 0.1
    return state


def layer_types(sequential):
    """The class names of a Sequential's layers, in order."""
    return [type(layer).__name__ for layer in sequential]


def part4_reference():
    """
    For each architecture case: its keyword arguments, the class names of its
    layers, an explicit state dict, an input and the output in eval mode.
    """
    from hw import cnn

    gen = torch.Generator().manual_seed(2026)
    cases = {}
    for cls, configs in PART4_CASES.items():
        cases[cls] = []
        for kwargs, x_shape in configs:
            torch.manual_seed(0)  # the solution's own draws are overwritten by the explicit state below
            model = getattr(cnn, cls)(**kwargs)
            state = explicit_state(model, gen)
            model.load_state_dict(state)
            model.eval()
            x = torch.randn(x_shape, generator=gen)
            with torch.no_grad():
                out = model(x)
            parts = ("feature_extractor", "classifier") if hasattr(model, "feature_extractor") else ("main_path",)
            cases[cls].append({
                "kwargs": kwargs,
                "layers": {part: layer_types(getattr(model, part)) for part in parts},
                "state": state,
                "x": x,
                "out": out,
            })  # fmt: skip
    return cases


BUILDERS = {"part1_reference.pt": part1_reference, "part2_reference.pt": part2_reference, "part4_reference.pt": part4_reference}


def build_all():
    """Returns {file name: content} for every asset, computed from the solution."""
    return {name: build() for name, build in BUILDERS.items()}


# Float results of the same code differ in the last bits from one CPU to
# another (the SIMD width changes the order of a matmul's sums: measured
# 2e-7 on a loss of 2.3 between two machines of this workplace). An asset is
# stale when the solution computes something else, not when the rounding
# moved, so floats compare within these tolerances; everything else exactly.
RTOL, ATOL = 1e-5, 1e-6


def same_content(a, b) -> bool:
    """Equality of nested dicts/lists of tensors and plain values, floats within RTOL/ATOL."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.is_floating_point():
            return torch.allclose(a, b, rtol=RTOL, atol=ATOL)
        return torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_content(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_content(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)
    return type(a) is type(b) and a == b


def stale_assets(directory: Path = ASSETS_DIR):
    """Names of assets that are missing from ``directory`` or differ from a fresh build."""
    stale = []
    for name, content in build_all().items():
        path = directory / name
        if not path.exists() or not same_content(torch.load(path, weights_only=True), content):
            stale.append(name)
    return stale


def write_assets(directory: Path = ASSETS_DIR):
    """Writes the assets whose content changed; returns the names written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in build_all().items():
        path = directory / name
        if path.exists() and same_content(torch.load(path, weights_only=True), content):
            continue
        torch.save(content, path)
        written.append(name)
    return written
