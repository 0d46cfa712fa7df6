"""
Hidden tests for Part 2: the hyper-parameters in hw/answers.py really work.

Only the numbers come from the submission. The experiments of the notebook
run here, in the harness, with a reference MLP built like ours (every weight
and bias drawn from N(0, wstd^2)) and reference optimizers that follow our
update rules, on the embedded Shapes set that the notebook uses in fast mode
(``hw.data`` of the course, not of the submission). So a bug elsewhere in the
submission does not cost these points twice, and a student's run order of
random numbers does not matter.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from hw import data
from hw.data import Shapes

IN_FEATURES = 3 * 32 * 32
SEED = 42  # the notebook's seed


def reference_mlp(num_classes, hidden_features, wstd):
    """Linear -> ReLU -> ... -> Linear, initialised like hw.layers.MLP."""
    sizes = [IN_FEATURES, *hidden_features, num_classes]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        linear = torch.nn.Linear(d_in, d_out)
        with torch.no_grad():
            linear.weight.normal_(0, wstd)
            linear.bias.normal_(0, wstd)
        layers += [linear, torch.nn.ReLU()]
    return torch.nn.Sequential(torch.nn.Flatten(), *layers[:-1])


class RMSPropReference(torch.optim.Optimizer):
    """Our RMSProp (eps inside the square root); torch.optim.RMSprop adds eps outside it."""

    def __init__(self, params, lr, reg, decay=0.99, eps=1e-8):
        super().__init__(params, dict(lr=lr, reg=reg, decay=decay, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad + group["reg"] * p
                r = self.state[p].setdefault("r", torch.zeros_like(p))
                r.mul_(group["decay"]).add_((1 - group["decay"]) * g * g)
                p -= group["lr"] * g / torch.sqrt(r + group["eps"])


# Our optimizers with their default arguments. Where torch's algorithm is the
# same (SGD with weight_decay = L2; SGD momentum equals the seed's velocity
# form at a constant learning rate; Adam with weight_decay = L2), use torch's.
OPTIMIZERS = {
    "vanilla": lambda params, lr, reg: torch.optim.SGD(params, lr=lr, weight_decay=reg),
    "momentum": lambda params, lr, reg: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=reg),
    "rmsprop": lambda params, lr, reg: RMSPropReference(params, lr=lr, reg=reg),
    "adam": lambda params, lr, reg: torch.optim.Adam(params, lr=lr, weight_decay=reg),
}


def hyperparameters(worker, name, keys):
    hp = worker.call("hyperparameters", name=name)
    missing = [key for key in keys if key not in hp]
    if missing:
        raise AssertionError(f"{name}() must return a dict with the keys {list(keys)}; missing {missing}")
    bad = [key for key in keys if not math.isfinite(hp[key]) or hp[key] < 0]
    if bad:
        raise AssertionError(f"{name}(): {', '.join(f'{k}={hp[k]}' for k in bad)} must be finite and >= 0")
    return hp


def train_batch(model, optimizer, x, y):
    scores = model(x)
    loss = F.cross_entropy(scores, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return int((scores.argmax(dim=1) == y).sum()), math.isfinite(loss.item())


@pytest.fixture(scope="module")
def shapes():
    return Shapes(train=True), Shapes(train=False)


# The code that decides what a reference training gives, besides its settings.
TRAINING_CODE = (__file__, data.__file__)


def overfit_best_accuracy(shapes, wstd, lr, reg):
    """The best training accuracy (%) of the notebook's overfitting run, 20 epochs on 20 samples."""
    train, _ = shapes
    torch.manual_seed(SEED)
    model = reference_mlp(len(train.classes), [128] * 3, wstd)
    optimizer = OPTIMIZERS["vanilla"](model.parameters(), lr, reg)
    x, y = train.images[:20], train.targets[:20]
    best = 0.0
    for _ in range(20):
        correct = sum(train_batch(model, optimizer, x[i : i + 10], y[i : i + 10])[0] for i in (0, 10))
        best = max(best, 100.0 * correct / 20)
    return best


@pytest.mark.points(2)
def test_overfit_hyperparameters(worker, shapes, reference_training):
    """part2_overfit_hp: the notebook's MLP (3 hidden layers of 128) and VanillaSGD reach 100% on 20 samples within 20 epochs"""
    hp = hyperparameters(worker, "part2_overfit_hp", ("wstd", "lr", "reg"))
    settings = {key: hp[key] for key in ("wstd", "lr", "reg")}
    best = reference_training("part2_overfit", settings, TRAINING_CODE, lambda: overfit_best_accuracy(shapes, **settings))
    if best < 100.0:
        raise AssertionError(
            f"with {hp} the best training accuracy in 20 epochs was {best:.0f}%, expected 100% "
            "(check them in the notebook with HW_FAST=1)"
        )


OPTIM_EPOCHS, OPTIM_MAX_BATCHES, OPTIM_BATCH = 5, 100, 50  # the notebook's schedule in fast mode
MIN_ACCURACY = 35.0  # chance is 100/6 = 16.7%


def optimizer_test_accuracy(shapes, name, wstd, lr, reg):
    """The test accuracy (%) after the notebook's fast schedule, or None when the loss diverged."""
    train, test = shapes
    torch.manual_seed(SEED)
    model = reference_mlp(len(train.classes), [128] * 5, wstd)
    optimizer = OPTIMIZERS[name](model.parameters(), lr, reg)
    for _ in range(OPTIM_EPOCHS):
        for _, (x, y) in zip(range(OPTIM_MAX_BATCHES), DataLoader(train, OPTIM_BATCH)):
            _, finite = train_batch(model, optimizer, x, y)
            if not finite:
                return None
    with torch.no_grad():
        return 100.0 * float((model(test.images).argmax(dim=1) == test.targets).float().mean())


@pytest.mark.points(1)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_hyperparameters(worker, shapes, reference_training, name):
    """part2_optim_hp: the learning rate for this optimizer trains the notebook's MLP (5 hidden layers of 128) well above chance"""
    hp = hyperparameters(worker, "part2_optim_hp", ("wstd", f"lr_{name}", "reg"))
    settings = {"wstd": hp["wstd"], "lr": hp[f"lr_{name}"], "reg": hp["reg"]}
    accuracy = reference_training(f"part2_optim_{name}", settings, TRAINING_CODE,
                                  lambda: optimizer_test_accuracy(shapes, name, **settings))  # fmt: skip
    if accuracy is None:
        raise AssertionError(f"with wstd={hp['wstd']}, lr_{name}={hp[f'lr_{name}']} the loss diverged (inf or nan)")
    if accuracy < MIN_ACCURACY:
        raise AssertionError(
            f"with wstd={hp['wstd']}, lr_{name}={hp[f'lr_{name}']}, reg={hp['reg']} the test accuracy after "
            f"{OPTIM_EPOCHS} epochs was {accuracy:.1f}%, expected at least {MIN_ACCURACY:.0f}% (chance is 16.7%)"
        )
