"""
Hidden tests for Part 2: the Trainer (hw/training.py).

The student's trainers run around trusted parts sent by the probes: a linear
classifier (with the Layer API for LayerTrainer, an nn.Module for
ClassifierTrainer), a cross-entropy loss and an optimizer. So these tests
judge the training loop alone, whatever the state of the student's layers and
optimizers. The references are computed here with plain torch. The trusted
model drops a fixed half of its input in training mode, like Dropout, so the
losses and weights that come back show which mode it was in: nothing the
worker says about itself is taken on trust.
"""
import pytest
import torch
import torch.nn.functional as F
from checks import check_close, check_equal
from probes_part2 import training_mask

TRAINERS = ["LayerTrainer", "ClassifierTrainer"]
NUM_FEATURES, NUM_CLASSES, BATCH = (1, 2, 3), 3, 4  # images (1, 2, 3): the trainer must flatten for our Layers
LEARN_RATE = 0.5


def dataset(num_samples, generator):
    """Three well-separated classes, as images of shape (N, 1, 2, 3)."""
    y = torch.randint(NUM_CLASSES, (num_samples,), generator=generator)
    x = 0.5 * torch.randn(num_samples, 6, generator=generator)
    x[torch.arange(num_samples), y] += 2.0
    return x.reshape(num_samples, *NUM_FEATURES), y


def initial_weights(generator):
    return 0.1 * torch.randn(NUM_CLASSES, 6, generator=generator), 0.1 * torch.randn(NUM_CLASSES, generator=generator)


def batches(x, y, max_batches=None):
    starts = list(range(0, len(y), BATCH))[:max_batches]
    return [(x[s : s + BATCH].flatten(1), y[s : s + BATCH]) for s in starts]


def reference_epoch(weights, x, y, step=None, max_batches=None, training=None):
    """
    One epoch of a linear classifier with ``weights`` = [w, b]: the batch
    losses, the accuracy (%) and the weights at the end. After each batch,
    ``step(weights, loss, leaves)`` returns the next weights; None only
    evaluates. The model is in training mode when it takes steps, unless
    ``training`` says otherwise.
    """
    training = step is not None if training is None else training
    losses, correct, seen = [], 0, 0
    for xb, yb in batches(x, y, max_batches):
        if training:
            xb = xb * training_mask(xb.shape[1])
        leaves = [t.clone().requires_grad_() for t in weights]
        scores = xb @ leaves[0].T + leaves[1]
        loss = F.cross_entropy(scores, yb)
        losses.append(loss.item())
        correct += int((scores.argmax(dim=1) == yb).sum())
        seen += len(yb)
        if step is not None:
            weights = step(weights, loss, leaves)
    return losses, 100.0 * correct / seen, weights


def sgd_step(weights, loss, leaves):
    return [t - LEARN_RATE * g for t, g in zip(weights, torch.autograd.grad(loss, leaves))]


def reference_sgd_epoch(w, b, x, y, train, max_batches=None, training=None):
    """What the probe's trainer epoch must give: plain SGD in training mode when training, evaluation otherwise."""
    return reference_epoch([w, b], x, y, step=sgd_step if train else None, max_batches=max_batches, training=training)


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(7)
    w, b = initial_weights(gen)
    x, y = dataset(5 * BATCH, gen)
    return w, b, x, y


def run_epoch(worker, kind, problem, train, max_batches=None):
    w, b, x, y = problem
    return worker.call("trainer_epoch", kind=kind, w=w, b=b, x=x, y=y, batch_size=BATCH,
                       learn_rate=LEARN_RATE, train=train, max_batches=max_batches)  # fmt: skip


def close(got, want):
    return len(got) == len(want) and torch.allclose(torch.tensor(got), torch.tensor(want), atol=1e-5, rtol=1e-4)


def check_mode(kind, method, got, problem, train, max_batches=None):
    """Fails with the reason when the batch losses are those of the model in the other mode."""
    w, b, x, y = problem
    wrong_mode, _, _ = reference_sgd_epoch(w, b, x, y, train=train, max_batches=max_batches, training=not train)
    right_mode, _, _ = reference_sgd_epoch(w, b, x, y, train=train, max_batches=max_batches)
    if close(got["losses"], wrong_mode) and not close(got["losses"], right_mode):
        if train:
            raise AssertionError(f"{kind}.{method}: the model was in evaluation mode; call model.train(True) first")
        raise AssertionError(f"{kind}.{method}: the model was in training mode; call model.train(False) first")


def check_epoch(kind, method, got, want):
    losses, accuracy, weights = want
    check_equal(f"{kind}.{method}: the number of batch losses in the EpochResult", len(got["losses"]), len(losses))
    check_close(f"{kind}.{method}: the batch losses", torch.tensor(got["losses"]), torch.tensor(losses))
    if abs(got["accuracy"] - accuracy) > 1e-6:
        raise AssertionError(f"{kind}.{method}: accuracy {got['accuracy']:.4g}%, expected {accuracy:.4g}% (in percent)")
    for name, got_w, want_w in zip(("weights", "bias"), got["weights"], weights):
        check_close(f"{kind}.{method}: the model's {name} after the epoch", got_w, want_w)


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", TRAINERS)
def test_train_epoch(worker, problem, kind):
    """train_epoch: training mode, one optimizer step per batch, the batch losses and the accuracy"""
    got = run_epoch(worker, kind, problem, train=True)
    check_mode(kind, "train_epoch", got, problem, train=True)
    w, b, x, y = problem
    check_epoch(kind, "train_epoch", got, reference_sgd_epoch(w, b, x, y, train=True))


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", TRAINERS)
def test_test_epoch(worker, problem, kind):
    """test_epoch: evaluation mode, no update, the batch losses and the accuracy"""
    got = run_epoch(worker, kind, problem, train=False)
    check_mode(kind, "test_epoch", got, problem, train=False)
    w, b, x, y = problem
    check_epoch(kind, "test_epoch", got, reference_sgd_epoch(w, b, x, y, train=False))


@pytest.mark.points(1)
@pytest.mark.parametrize("kind", TRAINERS)
def test_max_batches(worker, problem, kind):
    """train_epoch and test_epoch stop after max_batches batches"""
    w, b, x, y = problem
    for train in (True, False):
        got = run_epoch(worker, kind, problem, train=train, max_batches=2)
        method = "train_epoch" if train else "test_epoch"
        check_mode(kind, f"{method}(max_batches=2)", got, problem, train=train, max_batches=2)
        check_epoch(kind, f"{method}(max_batches=2)", got, reference_sgd_epoch(w, b, x, y, train=train, max_batches=2))


# -- fit ------------------------------------------------------------------------------
#
# The optimizer of these tests ignores the gradients: after step k it sets the
# weights to script[k], a multiple of weights that classify the data well. So the
# test loss of every epoch, and hence the epoch early stopping must stop at and
# the epoch a checkpoint must restore, are known in advance.

FIT_BATCHES = 2  # training batches per epoch


def fit_problem(alphas):
    """Data, initial weights, and a script that ends epoch e with weights alphas[e] * (good weights)."""
    gen = torch.Generator().manual_seed(11)
    w, b = initial_weights(gen)
    train, test = dataset(FIT_BATCHES * BATCH, gen), dataset(3 * BATCH, gen)
    good = 3.0 * torch.eye(NUM_CLASSES, 6)
    script = []
    for alpha in alphas:
        # The first step of each epoch goes somewhere else, so the epoch's last step matters.
        script += [[-good, torch.ones(NUM_CLASSES)], [alpha * good, torch.zeros(NUM_CLASSES)]]
    return w, b, train, test, script


def reference_fit(w, b, train, test, script, num_epochs, early_stopping):
    """The FitResult fields, the index of the best epoch and the weights at the end."""
    weights, steps = [w, b], iter(script)
    fit = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    best, since_best = None, 0
    for epoch in range(num_epochs):
        for split, data, step in (("train", train, lambda *_: next(steps)), ("test", test, None)):
            losses, accuracy, weights = reference_epoch(weights, *data, step=step)
            fit[f"{split}_loss"].append(sum(losses) / len(losses))
            fit[f"{split}_acc"].append(accuracy)
        if best is None or fit["test_loss"][-1] < fit["test_loss"][best]:
            best, since_best = epoch, 0
        else:
            since_best += 1
            if early_stopping is not None and since_best >= early_stopping:
                break
    fit["num_epochs"] = len(fit["train_loss"])
    return fit, best, weights


def check_fit(kind, got, want):
    check_equal(f"{kind}.fit: FitResult.num_epochs (epochs that ran)", got["num_epochs"], want["num_epochs"])
    descriptions = {
        "train_loss": "mean batch loss on the training set",
        "train_acc": "training accuracy (%)",
        "test_loss": "mean batch loss on the test set",
        "test_acc": "test accuracy (%)",
    }
    for name, description in descriptions.items():
        check_equal(f"{kind}.fit: number of epochs in FitResult.{name}", len(got[name]), len(want[name]))
        check_close(f"{kind}.fit: FitResult.{name} ({description}) per epoch", torch.tensor(got[name]),
                    torch.tensor(want[name]), atol=1e-4)  # fmt: skip


# Test loss falls until epoch 3, then no new minimum: early_stopping=3 stops after epoch 6.
EARLY_STOPPING_ALPHAS = [0.2, 0.5, 0.8, 0.6, 0.7, 0.4, 0.9, 1.0, 1.0, 1.0]


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", TRAINERS)
def test_fit_early_stopping(worker, kind):
    """fit stops after early_stopping epochs without a lower test loss, and reports the mean loss and accuracy of each epoch"""
    w, b, train, test, script = fit_problem(EARLY_STOPPING_ALPHAS)
    num_epochs, patience = len(EARLY_STOPPING_ALPHAS), 3
    got = worker.call("trainer_fit", kind=kind, w=w, b=b, train=train, test=test, batch_size=BATCH, script=script,
                      num_epochs=num_epochs, early_stopping=patience, checkpoint=False)  # fmt: skip
    want, _, weights = reference_fit(w, b, train, test, script, num_epochs, patience)
    check_fit(kind, got["fit"], want)
    check_close(f"{kind}.fit without checkpoints: the weights at the end", got["weights"][0], weights[0])


# The lowest test loss is at epoch 3 of 6; nothing stops the training early.
CHECKPOINT_ALPHAS = [0.2, 0.5, 0.9, 0.6, 0.7, 0.4]


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", TRAINERS)
def test_fit_checkpoint_restores_best(worker, kind):
    """With checkpoints, fit saves the model and the optimizer at each new lowest test loss and ends with the best ones"""
    w, b, train, test, script = fit_problem(CHECKPOINT_ALPHAS)
    num_epochs = len(CHECKPOINT_ALPHAS)
    got = worker.call("trainer_fit", kind=kind, w=w, b=b, train=train, test=test, batch_size=BATCH, script=script,
                      num_epochs=num_epochs, early_stopping=None, checkpoint=True)  # fmt: skip
    want, best, _ = reference_fit(w, b, train, test, script, num_epochs, None)
    check_fit(kind, got["fit"], want)
    best_weights = script[(best + 1) * FIT_BATCHES - 1]
    for name, got_w, want_w in zip(("weights", "bias"), got["weights"], best_weights):
        check_close(
            f"{kind}.fit with checkpoints: the model's {name} at the end should be those of epoch {best + 1}, "
            "the one with the lowest test loss",
            got_w,
            want_w,
        )
    check_equal(
        f"{kind}.fit with checkpoints: the optimizer's state at the end (its step count at epoch {best + 1})",
        got["steps"],
        (best + 1) * FIT_BATCHES,
    )
