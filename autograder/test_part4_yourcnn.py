"""
Hidden tests for Part 4: YourCNN, trained inside the worker with the recipe
its docstring states, graded by its accuracy on held-out Shapes images that
the harness keeps. In a file of its own so that it runs last: a network that
uses up the submission's time budget costs these points only.
"""
import pytest

from hw.data import Shapes

SEED = 42  # the notebook's seed

YOURCNN_RECIPE = dict(epochs=3, batch_size=50, lr=1e-3, seed=SEED)
YOURCNN_TRAIN, YOURCNN_TEST = 2000, 1000
YOURCNN_SECONDS = 240  # about ten times what a small CNN needs on one core
ACCURACY_STEPS = [60, 66, 72, 78, 84, 90]  # one point at each: partial credit between 60% and 90%


@pytest.fixture(scope="module")
def yourcnn_accuracy(worker):
    """YourCNN trained in the worker with the recipe its docstring states; its accuracy on held-out Shapes images."""
    train, test = Shapes(train=True), Shapes(train=False)  # the notebook's first 2,000 and 1,000 images
    test_labels = test.targets[:YOURCNN_TEST]
    got = worker.call("yourcnn_train", timeout=YOURCNN_SECONDS, in_size=[3, 32, 32], num_classes=len(train.classes),
                      train_x=train.images[:YOURCNN_TRAIN], train_y=train.targets[:YOURCNN_TRAIN],
                      test_x=test.images[:YOURCNN_TEST], **YOURCNN_RECIPE)  # fmt: skip
    pred = got["pred"]
    if tuple(pred.shape) != (YOURCNN_TEST,):
        raise AssertionError(f"YourCNN's predictions: expected shape ({YOURCNN_TEST},), got {tuple(pred.shape)}")
    return 100.0 * float((pred.long() == test_labels).float().mean())


@pytest.mark.points(1)
@pytest.mark.parametrize("threshold", ACCURACY_STEPS, ids=[f"{t}%" for t in ACCURACY_STEPS])
def test_yourcnn_accuracy(yourcnn_accuracy, threshold):
    """YourCNN: held-out accuracy after the fixed training recipe (one point per step from 60% to 90%)"""
    if yourcnn_accuracy < threshold:
        raise AssertionError(
            f"YourCNN reached {yourcnn_accuracy:.1f}% on the held-out Shapes images after the recipe "
            f"(Adam, lr 1e-3, 3 epochs, batches of 50, {YOURCNN_TRAIN} images); this point needs {threshold}%"
        )
