"""
Hidden tests for Part 4: classifiers, the ROC operating point, and the
hyper-parameters that overfit one batch.

The classifiers wrap nn.Identity(), so the scores the harness sends are the
model's output; references are torch.softmax and sklearn's roc_curve here.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from checks import check_close, check_equal, check_shape
from sklearn.metrics import roc_curve

import reference_models as ref
from hw.data import SHAPE_CLASSES

SEED = 42  # the notebook's seed


def scores_batch(n=12, c=5, scale=3.0):
    return torch.randn(n, c) * scale


def check_labels(what, got, expected, proba):
    """Equal labels, else how many differ and the first of them, with its probabilities."""
    check_shape(f"{what}: the labels", got, expected.shape)
    wrong = [i for i, (g, e) in enumerate(zip(got.tolist(), expected.tolist())) if g != e]
    if wrong:
        i = wrong[0]
        shown = ", ".join(f"{p:.3f}" for p in proba[i].tolist())
        raise AssertionError(f"{what}: {len(wrong)} of {len(expected)} labels differ; the first is sample {i} with "
                             f"probabilities ({shown}): expected {expected[i].item()}, got {got[i].item()}")  # fmt: skip


@pytest.mark.points(2)
def test_predict_proba(worker):
    """Classifier.predict_proba: the softmax over the classes, stable for large scores"""
    scores = torch.cat([scores_batch(), torch.tensor([[1000.0, 0.0, -1000.0, 5.0, 5.0]])])
    got = worker.call("classifier_pass", cls="ArgMaxClassifier", kwargs={}, scores=scores)
    check_close("predict_proba on scores (13, 5), the last row with scores of +-1000", got["proba"], torch.softmax(scores, dim=1),
                atol=1e-6, rtol=1e-5)  # fmt: skip


@pytest.mark.points(1)
def test_argmax_classify(worker):
    """ArgMaxClassifier.classify: the most probable class of each sample, as integer labels"""
    scores = scores_batch(20, 7)
    got = worker.call("classifier_pass", cls="ArgMaxClassifier", kwargs={}, scores=scores)
    check_equal("classify: dtype", str(got["pred"].dtype), "torch.int64")
    check_labels("classify on scores (20, 7)", got["pred"], scores.argmax(dim=1), torch.softmax(scores, dim=1))


BINARY_CASES = [(1, 0.5), (1, 0.8), (0, 0.3), (0, 0.65)]


@pytest.mark.points(1)
@pytest.mark.parametrize("positive_class, threshold", BINARY_CASES, ids=[f"positive-{c}-threshold-{t}" for c, t in BINARY_CASES])
def test_binary_classify(worker, positive_class, threshold):
    """BinaryClassifier.classify: the positive class exactly where its probability is at least the threshold"""
    scores = scores_batch(40, 2, scale=2.0)
    proba = torch.softmax(scores, dim=1)[:, positive_class]
    keep = (proba - threshold).abs() > 1e-4  # no sample on the threshold itself: rounding would decide it
    scores, proba = scores[keep], proba[keep]
    expected = torch.where(proba >= threshold, positive_class, 1 - positive_class)
    got = worker.call("classifier_pass", cls="BinaryClassifier", kwargs=dict(positive_class=positive_class, threshold=threshold),
                      scores=scores)  # fmt: skip
    check_labels(f"BinaryClassifier(positive_class={positive_class}, threshold={threshold}).classify",
                 got["pred"].long(), expected, torch.softmax(scores, dim=1))  # fmt: skip


ROC_CASES = [1, 0]


@pytest.mark.points(2)
@pytest.mark.parametrize("positive_class", ROC_CASES, ids=[f"positive-{c}" for c in ROC_CASES])
def test_select_roc_thresh(worker, positive_class):
    """select_roc_thresh: the threshold of the ROC point closest to (FPR 0, TPR 1)"""
    y = (torch.rand(300) < 0.3).long()
    # Scores that separate the classes imperfectly, so the ROC curve has many points.
    signal = (y == positive_class).float() * 1.5
    scores = torch.stack([torch.zeros(300), signal + torch.randn(300)], dim=1)
    if positive_class == 0:
        scores = scores.flip(1)
    proba = torch.softmax(scores, dim=1)[:, positive_class].numpy()
    fpr, tpr, thresholds = roc_curve(y.numpy(), proba, pos_label=positive_class)
    expected = float(thresholds[int(np.argmin(np.hypot(fpr, 1 - tpr)))])
    got = worker.call("roc_threshold", scores=scores, y=y, positive_class=positive_class)
    if not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-6):
        raise AssertionError(f"select_roc_thresh on 300 samples (positive class {positive_class}): "
                             f"expected {expected:.6f}, got {got:.6f}")  # fmt: skip


@pytest.mark.points(2)
def test_overfit_one_batch_hyperparameters(worker, notebook_training_images):
    """part4_overfit_hp: SGD with these reaches 100% on one batch of 16 Shapes images within 25 steps (the notebook's CNN)"""
    hp = worker.call("hyperparameters", name="part4_overfit_hp")
    keys = ("lr", "momentum", "weight_decay")
    missing = [k for k in keys if k not in hp]
    if missing:
        raise AssertionError(f"part4_overfit_hp() must return a dict with the keys {list(keys)}; missing {missing}")
    if not all(math.isfinite(hp[k]) and hp[k] >= 0 for k in keys) or not hp["lr"] > 0:
        raise AssertionError(f"part4_overfit_hp(): {hp} must be finite, >= 0, with lr > 0")
    images, labels = notebook_training_images(16)  # the notebook's batch
    torch.manual_seed(SEED)
    model = ref.cnn((3, 32, 32), len(SHAPE_CLASSES), channels=[32], pool_every=1, hidden_dims=[100])
    optimizer = torch.optim.SGD(model.parameters(), **{k: hp[k] for k in keys})
    best = 0.0
    for _ in range(25):
        scores = model(images)
        loss = F.cross_entropy(scores, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        best = max(best, 100.0 * float((scores.argmax(dim=1) == labels).float().mean()))
    if best < 100.0:
        raise AssertionError(f"with {hp} the best training accuracy in 25 steps was {best:.0f}%, expected 100% "
                             "(check them in the notebook with HW_FAST=1)")  # fmt: skip
