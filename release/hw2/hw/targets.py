"""
The accuracies the notebooks promise, checked where they are reached (provided).

``check_target`` prints what a training reached against what the notebook
promises and fails the cell when it falls short. When the environment
variable ``HW_TARGETS_FILE`` names a file, every check is also appended to it
as one line of JSON: that is how the course staff measure, on the real data
sets, that every promise holds.
"""
import json
import os

from hw.data import fast_mode


def check_target(what: str, reached: float, target: float, unit: str = "%"):
    """
    Inputs:
    - what: what was measured, e.g. "YourCNN, CIFAR-10 test accuracy".
    - reached: the value measured.
    - target: the least value the notebook promises.

    Raises AssertionError when reached < target.
    """
    met = reached >= target
    print(f"{what}: {reached:.1f}{unit} ({'meets' if met else 'BELOW'} the target of {target:g}{unit})")
    record_file = os.environ.get("HW_TARGETS_FILE")
    if record_file:
        with open(record_file, "a") as f:
            f.write(json.dumps({"what": what, "reached": float(reached), "target": float(target), "unit": unit,
                                "fast": fast_mode()}) + "\n")  # fmt: skip
    assert met, f"{what}: {reached:.1f}{unit}, expected at least {target:g}{unit}"
