"""
Hidden tests for Part 4: YourCNN, trained inside the worker with the recipe
its docstring states, graded by its accuracy on Shapes images drawn from the
course's secret (course.grading.secret): no file of the release or of this suite can
reproduce them, so a network that recognises known images gains nothing.
Training has a time of its own (OWN_TIME_SECONDS in course/grading/sandbox.py), not
taken from the submission's budget; in a file of its own so that it runs
after the rest of Part 4.
"""
import pytest
import torch

from hw.data import SHAPE_CLASSES, make_shapes

SEED = 42  # the notebook's seed

YOURCNN_RECIPE = dict(epochs=3, batch_size=50, lr=1e-3, seed=SEED)
YOURCNN_TRAIN, YOURCNN_TEST = 2000, 1000
ACCURACY_STEPS = [60, 66, 72, 78, 84, 90]  # one point at each: partial credit between 60% and 90%
UNTRAINED_LIMIT = 50  # % before training: a network that needs no training (looks the images up) gets no point


@pytest.fixture(scope="module")
def yourcnn_accuracy(worker, notebook_training_images, held_out_for_code):
    """YourCNN trained in the worker with the recipe its docstring states; the held-out accuracy of a new YourCNN given its state dict."""
    train_x, train_y = notebook_training_images(YOURCNN_TRAIN)
    test_images, test_labels, _ = make_shapes(YOURCNN_TEST, held_out_for_code("yourcnn-test-images"))
    # The recipe numbers the classes its own way (every class moves): what a network knows of the shapes before
    # it is trained, or brings from elsewhere, predicts the wrong numbers; what it learns from the recipe, the right.
    renumber = derangement(len(SHAPE_CLASSES), held_out_for_code("yourcnn-class-numbers"))
    got = worker.call("yourcnn_train", in_size=[3, 32, 32], num_classes=len(SHAPE_CLASSES),
                      train_x=train_x, train_y=renumber[train_y], test_x=test_images, **YOURCNN_RECIPE)  # fmt: skip
    pred = got["pred"]
    untrained = {"before any training": got["pred_before"], "as a new network after the training": got["pred_untrained_after"]}
    for what, labels in (("predictions", pred), *((f"predictions {when}", p) for when, p in untrained.items())):
        if tuple(labels.shape) != (YOURCNN_TEST,):
            raise AssertionError(f"YourCNN's {what}: expected shape ({YOURCNN_TEST},), got {tuple(labels.shape)}")
    for when, labels in untrained.items():
        accuracy = 100.0 * float((labels.long() == test_labels).float().mean())
        if accuracy >= UNTRAINED_LIMIT:
            raise AssertionError(f"An untrained YourCNN classified {accuracy:.1f}% of the held-out images {when}: its "
                                 "accuracy must come from the recipe's training of its parameters, not from how it is "
                                 f"built (a network drawn at random is near chance, {100 / len(SHAPE_CLASSES):.0f}%)")  # fmt: skip
    return 100.0 * float((pred.long() == renumber[test_labels]).float().mean())


def derangement(n, seed):
    """A permutation of range(n) that moves every element, drawn from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=generator)
        if bool((order != torch.arange(n)).all()):
            return order


@pytest.mark.points(1)
@pytest.mark.parametrize("threshold", ACCURACY_STEPS, ids=[f"{t}%" for t in ACCURACY_STEPS])
def test_yourcnn_accuracy(yourcnn_accuracy, threshold):
    """YourCNN: held-out accuracy after the fixed training recipe (one point per step from 60% to 90%)"""
    if yourcnn_accuracy < threshold:
        raise AssertionError(
            f"YourCNN reached {yourcnn_accuracy:.1f}% on the held-out Shapes images after the recipe "
            f"(Adam, lr 1e-3, 3 epochs, batches of 50, {YOURCNN_TRAIN} images); this point needs {threshold}%"
        )
