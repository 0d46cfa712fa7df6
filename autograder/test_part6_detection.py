"""
Hidden tests for Part 6's detection functions (hw/interpret.py): box_iou and
nms against torchvision.ops, on random boxes and on the cases that break
hand-written versions (identical, nested, touching and disjoint boxes, equal
scores, an overlap exactly at the threshold, no boxes at all).
"""
import pytest
import torch
from checks import check_close, check_equal
from hw.policy import BOX_RULE


def random_boxes(n, size=40.0):
    """n boxes (x1, y1, x2, y2) of positive width and height inside a size x size image."""
    corner = torch.rand(n, 2) * size
    extent = 1.0 + torch.rand(n, 2) * size / 2
    return torch.cat([corner, corner + extent], dim=1)


ADVERSARIAL = torch.tensor([
    [0.0, 0.0, 4.0, 4.0],
    [0.0, 0.0, 4.0, 4.0],   # identical to the first: IoU 1
    [1.0, 1.0, 3.0, 3.0],   # inside the first: IoU 4 / 16
    [4.0, 0.0, 8.0, 4.0],   # touches the first along an edge: IoU 0
    [10.0, 10.0, 12.0, 13.0],  # far from every other
    [0.0, 2.0, 4.0, 6.0],   # half over the first: IoU 8 / 24
])  # fmt: skip


def ops():
    """torchvision.ops, imported when a test needs it (see reference_map in test_part6_interpret.py)."""
    import torchvision.ops

    return torchvision.ops


def call(worker, function, *args):
    return worker.call("box_function", function=function, args=list(args))


@pytest.mark.points(1)
def test_box_iou_random(worker, from_scratch):
    """box_iou: every pair of 12 x 7 random boxes, as torchvision.ops.box_iou"""
    from_scratch(BOX_RULE, "box_iou")
    a, b = random_boxes(12), random_boxes(7)
    check_close("box_iou of boxes (12, 4) and (7, 4)", call(worker, "box_iou", a, b), ops().box_iou(a, b))


@pytest.mark.points(1)
def test_box_iou_special_cases(worker, from_scratch):
    """box_iou: identical, nested, touching, disjoint and overlapping boxes, and no boxes at all"""
    from_scratch(BOX_RULE, "box_iou")
    a, b = random_boxes(9), random_boxes(5)  # fixed boxes' answer could be looked up: they count only with drawn ones
    check_close("box_iou of 9 x 5 random boxes (these special cases count only when box_iou works on boxes drawn "
                "for this test)", call(worker, "box_iou", a, b), ops().box_iou(a, b))  # fmt: skip
    check_close("box_iou of the boxes (6, 4) with themselves", call(worker, "box_iou", ADVERSARIAL, ADVERSARIAL),
                ops().box_iou(ADVERSARIAL, ADVERSARIAL))  # fmt: skip
    empty = torch.zeros(0, 4)
    check_close("box_iou of no boxes (0, 4) and boxes (6, 4)", call(worker, "box_iou", empty, ADVERSARIAL), torch.zeros(0, 6))


NMS_CASES = {
    "random-boxes": lambda: (random_boxes(150), torch.rand(150), 0.3),  # enough overlaps to tell a wrong nms apart
    "equal-scores": lambda: (random_boxes(30), torch.randint(0, 3, (30,)).float(), 0.3),
    "overlap-at-the-threshold": lambda: (ADVERSARIAL, torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), 0.25),
    "threshold-zero": lambda: (random_boxes(25), torch.rand(25), 0.0),
    "no-boxes": lambda: (torch.zeros(0, 4), torch.zeros(0), 0.5),
}


@pytest.mark.points(1)
@pytest.mark.parametrize("case", list(NMS_CASES))
def test_nms(worker, from_scratch, case):
    """nms: the indices torchvision.ops.nms keeps, in its order"""
    from_scratch(BOX_RULE, "nms")
    if case in ("no-boxes", "overlap-at-the-threshold"):
        # An nms that returns nothing passes the first alone, and the second's boxes are fixed, so its answer could be
        # looked up: they count only with boxes drawn for this test.
        # Many overlapping boxes, so that a wrong nms almost surely keeps or drops another box here.
        boxes, scores, threshold = random_boxes(150), torch.rand(150), 0.3
        got = call(worker, "nms", boxes, scores, threshold)
        check_equal("the indices nms keeps of 150 random boxes (this case counts only when nms works on boxes drawn "
                    "for this test)", got.tolist(), ops().nms(boxes, scores, threshold).tolist())  # fmt: skip
    boxes, scores, threshold = NMS_CASES[case]()
    got = call(worker, "nms", boxes, scores, threshold)
    expected = ops().nms(boxes, scores, threshold)
    check_equal(f"nms of {len(boxes)} boxes ({case}) at iou_threshold={threshold}: the kept indices",
                got.reshape(-1).tolist(), expected.tolist())  # fmt: skip
    check_equal("the dtype of nms's result", str(got.dtype), "torch.int64")
