"""
Hidden tests for Part 5: the experiment command, and the functions of the
studies (effective smoothness, label noise, confusion matrix).

References are computed here: the smoothness with a network and data of the
harness, the confusion matrix with scikit-learn.
"""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from checks import check_equal, check_shape
from sklearn.metrics import confusion_matrix
from torch import nn

# -- python -m hw.experiments run-exp ----------------------------------------------------

RUN = dict(run_name="graded", filters_per_layer=[4, 8], layers_per_block=1, pool_every=1, hidden_dims=[16], epochs=2,
           batches=3, bs_train=20, bs_test=25, early_stopping=5, lr=0.002, reg=0.0005, seed=7, device="cpu")  # fmt: skip
MODEL_CLASSES = {"cnn": "CNN", "resnet": "ResNet"}  # hw.experiments.MODEL_TYPES, as the docstring of run_experiment says
NUM_TRAIN, NUM_TEST = 60, 50  # Shapes images the run trains and tests on: 3 batches of 20, 2 batches of 25
NUM_SHAPES = 6  # hw.data.SHAPE_CLASSES
# Mean cosine between a training batch's step and the negative gradient of its loss, below which the run did not
# train by gradient descent: the solution's Adam runs give 0.28 (CNN) and 0.10 (ResNet, whose later steps follow
# Adam's momentum more than the batch); a step in a random direction about 1/sqrt(parameters), 0.01 here.
MIN_DESCENT = 0.03


def run_exp_argv(model_type):
    r = RUN
    return ["run-exp", "-n", r["run_name"], "-K", *map(str, r["filters_per_layer"]), "-L", str(r["layers_per_block"]),
            "-P", str(r["pool_every"]), "-H", *map(str, r["hidden_dims"]), "-M", model_type, "--epochs", str(r["epochs"]),
            "--batches", str(r["batches"]), "--bs-train", str(r["bs_train"]), "--bs-test", str(r["bs_test"]),
            "--early-stopping", str(r["early_stopping"]), "--lr", str(r["lr"]), "--reg", str(r["reg"]),
            "--seed", str(r["seed"]), "--device", r["device"]]  # fmt: skip


def check_accuracies(what, values, num_samples):
    """Accuracies in percent of num_samples samples: multiples of 100 / num_samples, in [0, 100]."""
    for epoch, acc in enumerate(values, start=1):
        correct = acc * num_samples / 100
        if not (0 <= acc <= 100 and abs(correct - round(correct)) < 1e-6):
            raise AssertionError(f"{what} of epoch {epoch} is {acc}: expected the percentage of {num_samples} samples "
                                 "classified correctly (check bs_train, bs_test and max_batches=batches)")  # fmt: skip


@pytest.mark.points(2)
@pytest.mark.parametrize("model_type", ["cnn", "resnet"])
def test_run_exp_writes_its_result(worker, model_type):
    """python -m hw.experiments run-exp: one result file, named {run_name}_L{L}_K{K1-K2}.json, whose configuration and FitResult load back and are those of the model it trained"""
    argv = run_exp_argv(model_type)
    got = worker.call("run_exp_command", argv=argv, num_train=NUM_TRAIN, num_test=NUM_TEST,
                      model_class=MODEL_CLASSES[model_type])  # fmt: skip
    command = "python -m hw.experiments " + " ".join(argv)
    expected_name = "graded_L1_K4-8.json"
    results = [name for name in got["files"] if name.endswith(".json")]
    check_equal(f"{command}: the result files written", results, [expected_name])
    try:
        saved = json.loads(got["files"][expected_name])
    except (ValueError, RecursionError):
        raise AssertionError(f"{expected_name} is not a JSON file (it is written by save_experiment)") from None
    if not isinstance(saved, dict) or set(saved) != {"config", "results"} or not isinstance(saved["results"], dict):
        raise AssertionError(f"{expected_name} must hold a JSON object with the keys config and results")
    loaded = got["loaded"]
    for key, value in dict(RUN, model_type=model_type).items():
        check_equal(f"{command}: config[{key!r}] as load_experiment reads it", loaded["config"].get(key), value)
    fit = loaded["fit"]
    check_equal(f"{command}: FitResult.num_epochs", fit["num_epochs"], RUN["epochs"])
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        values = fit[name]
        check_equal(f"{command}: FitResult.{name} entries", len(values), RUN["epochs"])
        if not all(math.isfinite(v) for v in values):
            raise AssertionError(f"{command}: FitResult.{name} is {values}, expected finite numbers")
        check_equal(f"{command}: FitResult.{name} in the file", saved["results"].get(name), values)
    check_accuracies(f"{command}: train_acc", fit["train_acc"], RUN["batches"] * RUN["bs_train"])
    check_accuracies(f"{command}: test_acc", fit["test_acc"], NUM_TEST)
    check_trained_model(command, model_type, got["model"], fit)


def check_trained_model(command, model_type, model, fit):
    """The FitResult is the run's: the configured model, trained and tested batch by batch as the file says."""
    expected_class = MODEL_CLASSES[model_type]
    if model["models"] != 1:
        raise AssertionError(f"{command}: {model['models']} models were called on the data set's images, expected one: "
                             f"the {expected_class} that run_experiment builds and trains")  # fmt: skip
    if not model["is_model_type"]:
        raise AssertionError(f"{command}: the model trained is a {model['class']}, expected hw.cnn.{expected_class} "
                             f"(model_type={model_type!r})")  # fmt: skip
    if not model["moved"] > 0:
        raise AssertionError(f"{command}: the {expected_class}'s parameters are the same after the run as at its first "
                             "call: the trainer's fit must train it")  # fmt: skip
    if model["steps_missing"]:
        raise AssertionError(f"{command}: the {expected_class}'s parameters did not change after training batch "
                             f"{model['steps_missing'][0]}: the trainer takes an optimizer step on every batch")  # fmt: skip
    for call in model["calls"]:  # before anything is computed from them
        check_shape(f"{command}: the {expected_class}'s scores for a batch of {len(call['labels'])} images",
                    call["scores"], (len(call["labels"]), NUM_SHAPES))  # fmt: skip
    check_shape(f"{command}: the trained {expected_class}'s scores for the {NUM_TEST} test images",
                model["test_scores"], (len(model["test_labels"]), NUM_SHAPES))  # fmt: skip
    if any(cosine is None for cosine in model["descent"]):
        raise AssertionError(f"{command}: the {expected_class}'s scores in training mode carry no gradient: the trainer "
                             "trains the model by backpropagating the loss of its scores")  # fmt: skip
    descent = sum(model["descent"]) / max(1, len(model["descent"]))
    if not descent > MIN_DESCENT:
        raise AssertionError(f"{command}: the {expected_class}'s parameters did not move against the gradient of each "
                             f"training batch's loss (mean cosine {descent:.3f} over {len(model['descent'])} steps, expected above {MIN_DESCENT}): the trainer "
                             "takes the optimizer's step on the gradients of the loss")  # fmt: skip
    epochs, batches = RUN["epochs"], RUN["batches"]
    test_batches = math.ceil(NUM_TEST / RUN["bs_test"])
    for training, split, count, size, what in ((True, "train", batches, RUN["bs_train"], "training"),
                                               (False, "test", test_batches, None, "evaluation")):  # fmt: skip
        calls = [c for c in model["calls"] if c["training"] == training]
        sizes = [len(c["labels"]) for c in calls]
        if len(calls) != epochs * count or any(c["split"] != split for c in calls) or (size and set(sizes) != {size}):
            raise AssertionError(f"{command}: the model was called in {what} mode on {len(calls)} batches of "
                                 f"{sizes[:12]} images, expected {epochs} epochs of {count} batches of {split} images"
                                 f"{f' ({size} each)' if size else ''}")  # fmt: skip
        for epoch in range(epochs):
            of_epoch = calls[epoch * count : (epoch + 1) * count]
            check_epoch(f"{command}: epoch {epoch + 1}'s", "train" if training else "test", of_epoch, fit, epoch)
    scores, labels = model["test_scores"].double(), model["test_labels"]
    accuracy = 100.0 * int((scores.argmax(dim=1) == labels).sum()) / len(labels)
    if not math.isclose(fit["test_acc"][-1], accuracy, abs_tol=1e-6):
        raise AssertionError(f"{command}: the last epoch's test accuracy is {fit['test_acc'][-1]}, but the trained "
                             f"model classifies {accuracy:g} % of the test images correctly")  # fmt: skip


def check_epoch(what, split, calls, fit, epoch):
    """One epoch's loss and accuracy in the FitResult: those of the model's scores, batch by batch, as it ran."""
    correct = sum(int((c["scores"].argmax(dim=1) == c["labels"]).sum()) for c in calls)
    accuracy = 100.0 * correct / sum(len(c["labels"]) for c in calls)
    loss = sum(F.cross_entropy(c["scores"].double(), c["labels"]).item() for c in calls) / len(calls)
    if not math.isclose(fit[f"{split}_acc"][epoch], accuracy, abs_tol=1e-6):
        raise AssertionError(f"{what} {split}_acc is {fit[f'{split}_acc'][epoch]}, but the model's scores in that "
                             f"epoch classify {accuracy:g} % of its {split} images correctly")  # fmt: skip
    if not math.isclose(fit[f"{split}_loss"][epoch], loss, rel_tol=1e-3, abs_tol=1e-5):
        raise AssertionError(f"{what} {split}_loss is {fit[f'{split}_loss'][epoch]:.6g}, but the mean cross-entropy of "
                             f"the model's scores in that epoch is {loss:.6g}")  # fmt: skip


# -- effective smoothness ----------------------------------------------------------------


class SmoothnessNet(nn.Sequential):
    """Two convolutions, [BatchNorm after each pooling]: the probes' SmoothnessNet."""

    def __init__(self, batchnorm, in_channels=1, size=12, num_classes=4):
        bn = (lambda c: [nn.BatchNorm2d(c)]) if batchnorm else (lambda c: [])
        super().__init__(
            nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), *bn(4),
            nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), *bn(6),
            nn.Flatten(), nn.Linear(6 * (size // 4) ** 2, num_classes),
        )  # fmt: skip


def smoothness_case(batchnorm):
    """A network's state, three batches of data and a step u (one tensor per parameter)."""
    model = SmoothnessNet(batchnorm)
    with torch.no_grad():  # running statistics that are not the defaults, so that restoring them matters
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [(torch.randn(8, 1, 12, 12), torch.randint(0, 4, (8,))) for _ in range(3)]
    step = [0.05 * torch.randn_like(p) for p in model.parameters()]
    return state, batches, step


def reference_smoothness(batchnorm, state, batches, step, train):
    """||grad f(w + u) - grad f(w)|| / ||u|| with f the mean loss over all three batches."""

    def gradient(model):
        params = list(model.parameters())
        total = [torch.zeros_like(p) for p in params]
        for x, y in batches:
            for acc, g in zip(total, torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), params)):
                acc += g
        return torch.cat([g.reshape(-1) for g in total]) / sum(len(y) for _, y in batches)

    model = SmoothnessNet(batchnorm)
    model.load_state_dict(state)
    model.train(train)
    at_w = gradient(model)
    with torch.no_grad():
        for p, u in zip(model.parameters(), step):
            p += u
    at_w_u = gradient(model)
    return float((at_w_u - at_w).norm() / torch.cat([u.reshape(-1) for u in step]).norm())


SMOOTHNESS_CASES = [(False, False), (True, True)]


@pytest.mark.points(2)
@pytest.mark.parametrize("batchnorm, train", SMOOTHNESS_CASES, ids=["plain-eval-mode", "batchnorm-train-mode"])
def test_effective_smoothness(worker, batchnorm, train):
    """effective_smoothness: ||grad f(w + u) - grad f(w)|| / ||u||, with f the loss over the whole data set"""
    state, batches, step = smoothness_case(batchnorm)
    expected = reference_smoothness(batchnorm, state, batches, step, train)
    got = worker.call("smoothness_pass", batchnorm=batchnorm, state=state, batches=batches, step=step, train=train)
    what = (f"effective_smoothness of a two-convolution network{' with BatchNorm' if batchnorm else ''} in "
            f"{'training' if train else 'evaluation'} mode, on 3 batches of 8 images")  # fmt: skip
    if not math.isclose(got["value"], expected, rel_tol=1e-3):
        raise AssertionError(f"{what}: expected {expected:.6g}, got {got['value']:.6g} (f is the mean loss over every "
                             "batch of data, at w and at w + u)")  # fmt: skip


@pytest.mark.points(1)
def test_effective_smoothness_restores_the_model(worker):
    """effective_smoothness leaves the model's parameters and BatchNorm statistics as they were"""
    state, batches, step = smoothness_case(batchnorm=True)
    got = worker.call("smoothness_pass", batchnorm=True, state=state, batches=batches, step=step, train=True)
    expected = reference_smoothness(True, state, batches, step, True)
    if not math.isclose(got["value"], expected, rel_tol=1e-3):  # a function that computes nothing changes nothing
        raise AssertionError(f"effective_smoothness gave {got['value']:.6g}, expected {expected:.6g}: this check counts "
                             "only for a correct value")  # fmt: skip
    check_equal("the state dict's keys after effective_smoothness", sorted(got["state"]), sorted(state))
    for key, before in state.items():
        after = got["state"][key]
        check_equal(f"the shape of {key} after effective_smoothness", tuple(after.shape), tuple(before.shape))
        if not torch.equal(after, before):
            raise AssertionError(f"after effective_smoothness, {key} changed (largest change "
                                 f"{(after.double() - before.double()).abs().max().item():.3g}): load back the state dict "
                                 "saved before the call")  # fmt: skip


# -- label noise -------------------------------------------------------------------------

NUM_LABELS, NUM_CLASSES = 1000, 7


def labels_case():
    return torch.randint(0, NUM_CLASSES, (NUM_LABELS,))


@pytest.mark.points(1)
@pytest.mark.parametrize("fraction", [0.1, 0.35, 1.0])
def test_corrupt_labels_changes_exactly_the_fraction(worker, fraction):
    """corrupt_labels: exactly round(fraction * N) labels differ from the original ones"""
    labels = labels_case()
    got = worker.call("noisy_labels", labels=labels, fraction=fraction, num_classes=NUM_CLASSES, seed=3, repeat=1)
    noisy = got["outputs"][0]
    check_shape("corrupt_labels", noisy, labels.shape)
    changed = int((noisy.long() != labels).sum())
    expected = round(fraction * NUM_LABELS)
    if changed != expected:
        raise AssertionError(f"corrupt_labels(fraction={fraction}) on {NUM_LABELS} labels of {NUM_CLASSES} classes "
                             f"changed {changed} labels, expected exactly {expected} (every chosen label must get "
                             "another class)")  # fmt: skip


def check_changed_count(labels, noisy, fraction):
    """The properties below count only for labels of which exactly round(fraction * N) changed."""
    check_shape(f"corrupt_labels at fraction {fraction}", noisy, labels.shape)
    changed = int((noisy != labels).sum())
    if changed != round(fraction * len(labels)):
        raise AssertionError(f"corrupt_labels changed {changed} of {len(labels)} labels at fraction {fraction}, expected "
                             f"{round(fraction * len(labels))}: this check counts only for labels corrupted as asked")  # fmt: skip


@pytest.mark.points(1)
def test_corrupt_labels_is_reproducible(worker):
    """corrupt_labels: the same generator state gives the same labels, another seed other labels at other places, new classes drawn uniformly"""
    labels = labels_case()
    same = worker.call("noisy_labels", labels=labels, fraction=0.2, num_classes=NUM_CLASSES, seed=11, repeat=2)["outputs"]
    check_changed_count(labels, same[0], 0.2)
    other = worker.call("noisy_labels", labels=labels, fraction=0.2, num_classes=NUM_CLASSES, seed=12, repeat=1)["outputs"]
    if not torch.equal(same[0], same[1]):
        raise AssertionError("corrupt_labels gave different labels for two generators seeded alike: draw every random "
                             "number from the generator passed in")  # fmt: skip
    if torch.equal(same[0], other[0]):
        raise AssertionError("corrupt_labels gave the same labels for generators of seeds 11 and 12: draw the random "
                             "numbers from the generator passed in")  # fmt: skip
    check_changed_count(labels, other[0], 0.2)
    changed = [(noisy != labels) for noisy in (same[0], other[0])]
    both = int((changed[0] & changed[1]).sum())
    if not 10 <= both <= 90:  # two random choices of 200 of 1,000 places share about 40
        raise AssertionError(f"corrupt_labels changed {both} of the same 200 places for seeds 11 and 12, expected about "
                             "40: choose the places at random (torch.randperm with the generator)")  # fmt: skip
    everything = worker.call("noisy_labels", labels=labels, fraction=1.0, num_classes=NUM_CLASSES, seed=13, repeat=1)
    check_changed_count(labels, everything["outputs"][0], 1.0)
    offsets = torch.bincount((everything["outputs"][0].long() - labels) % NUM_CLASSES, minlength=NUM_CLASSES)[1:]
    expected = NUM_LABELS / (NUM_CLASSES - 1)
    if (offsets - expected).abs().max() > 0.4 * expected:
        raise AssertionError(f"corrupt_labels(fraction=1.0) moved the labels by these offsets (1 to {NUM_CLASSES - 1}, "
                             f"modulo {NUM_CLASSES}) this many times: {offsets.tolist()}, expected about {expected:.0f} "
                             "each: draw the new class uniformly among the other classes")  # fmt: skip


@pytest.mark.points(1)
def test_corrupt_labels_keeps_its_input(worker):
    """corrupt_labels: int64 classes in [0, num_classes), and the labels passed in unchanged"""
    labels = labels_case()
    got = worker.call("noisy_labels", labels=labels, fraction=0.5, num_classes=NUM_CLASSES, seed=5, repeat=1)
    noisy = got["outputs"][0]
    check_changed_count(labels, noisy, 0.5)
    check_equal("corrupt_labels: dtype", str(noisy.dtype), "torch.int64")
    if noisy.numel() and not (0 <= int(noisy.min()) and int(noisy.max()) < NUM_CLASSES):
        raise AssertionError(f"corrupt_labels returned classes from {int(noisy.min())} to {int(noisy.max())}, "
                             f"expected classes in [0, {NUM_CLASSES})")  # fmt: skip
    if not torch.equal(got["input_after"], labels):
        raise AssertionError("corrupt_labels changed the labels passed in: change a copy (labels.clone())")


# -- confusion matrix --------------------------------------------------------------------


@pytest.mark.points(2)
def test_confusion_matrix(worker):
    """confusion_matrix: entry [i, j] counts the samples of class i predicted as j, as scikit-learn's"""
    num_classes = 6
    batches = []
    for size in (10, 10, 7):
        scores = torch.randn(size, num_classes)
        scores[:, 5] = -100.0  # class 5 is never predicted, and never the label: its row and column stay zero
        batches.append((scores, torch.randint(0, 5, (size,))))
    got = worker.call("confusion_pass", batches=batches, num_classes=num_classes)
    y = torch.cat([y for _, y in batches])
    predicted = torch.cat([s.argmax(dim=1) for s, _ in batches])
    expected = torch.from_numpy(confusion_matrix(y.numpy(), predicted.numpy(), labels=list(range(num_classes))))
    check_shape("confusion_matrix", got, (num_classes, num_classes))
    if not torch.equal(got.long(), expected.long()):
        raise AssertionError(f"confusion_matrix of 27 samples in 6 classes:\nexpected\n{expected.tolist()}\ngot\n"
                             f"{got.long().tolist()}\n(rows are the true classes, columns the predicted ones)")  # fmt: skip
