"""
Part 6: object detection with a pretrained detector, and your non-maximum
suppression.

The detector is torchvision's Faster R-CNN with a MobileNetV3 backbone
(trained on COCO's 80 object categories, 74 MB of weights). It is built with
its own non-maximum suppression turned off, so that its raw, overlapping
boxes go through your `nms` (hw/interpret.py).

The weights are downloaded once, on a machine with internet access, into
torch's cache (~/.cache/torch/hub/checkpoints, or $TORCH_HOME):

    python -m hw.detection download

With HW_FAST=1 the notebook uses a stand-in instead (simulated_detector):
around each shape of a few Shapes images, the overlapping boxes a detector
finds before suppression.
"""
import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from hw.data import SHAPE_CLASSES, DatasetMissing, mask_boxes, shape_masks

WEIGHTS_SIZE = "74 MB"


class WeightsMissing(DatasetMissing):
    """The detector's pretrained weights are not on disk; the message says how to get them."""


def _weights():
    from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_320_FPN_Weights

    return FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1


def weights_path() -> Path:
    """Where torch keeps the detector's weights once downloaded."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_weights().url).name


def categories() -> list:
    """The names of the detector's classes (index 0 is the background)."""
    return list(_weights().meta["categories"])


def require_weights():
    """Raises WeightsMissing, saying how to get them, when the detector's weights are not on disk."""
    if not weights_path().exists():
        raise WeightsMissing(
            f"The detector's weights were not found at {weights_path()}.\n"
            f"- To download them ({WEIGHTS_SIZE}) into that folder, run:  python -m hw.detection download\n"
            f"- To keep them elsewhere, set TORCH_HOME to the folder that holds hub/checkpoints/.\n"
            f"- To work without them, set HW_FAST=1 (before starting Jupyter): the notebook then uses a stand-in "
            f"for the detector on the embedded Shapes images."
        )


def detector(pretrained: bool = True):
    """
    The detector, in evaluation mode, with its own non-maximum suppression
    off (box_nms_thresh=1.0: no box overlaps another by more than 1).

    pretrained: load the COCO weights (False: random weights, for tests).
    Raises WeightsMissing, saying how to get them, when they are not on disk.
    """
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    options = dict(box_nms_thresh=1.0, box_score_thresh=0.05, box_detections_per_img=300)
    if not pretrained:
        return fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=len(categories()), **options).eval()
    require_weights()
    return fasterrcnn_mobilenet_v3_large_320_fpn(weights=_weights(), **options).eval()


def sample_images() -> dict:
    """Photographs that come with the homework's packages: {name: image (3, H, W) in [0, 1]}."""
    import matplotlib.cbook
    from sklearn.datasets import load_sample_images

    images = {"grace_hopper": plt.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}
    bundled = load_sample_images()
    for path, pixels in zip(bundled.filenames, bundled.images):
        images[Path(path).stem] = pixels
    return {name: torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255 for name, pixels in images.items()}


def simulated_detector(boxes: torch.Tensor, labels: torch.Tensor, copies: int = 15, seed: int = 0, jitter: float = 0.25):
    """
    A stand-in for the detector on an image whose objects are known (boxes
    (K, 4) and labels (K,)): for each object, ``copies`` boxes whose corners
    are moved by up to ``jitter`` times its size, scored higher the closer
    they are (0.55 to 0.99), and three boxes elsewhere with low scores, as a
    detector's raw output looks before suppression. Called like the
    detector, model([image]).
    """

    def model(images):
        generator = torch.Generator().manual_seed(seed)
        found = {"boxes": [], "scores": [], "labels": []}
        for box, label in zip(boxes.float(), labels.long()):
            size = (box[2:] - box[:2]).repeat(2)
            shift = (torch.rand(copies, 4, generator=generator) - 0.5) * 2 * jitter * size
            closeness = 1 - shift.abs().sum(dim=1) / (jitter * size.sum())  # 1 for the object's own box, 0 at the farthest
            far = torch.rand(3, 2, generator=generator) * 20
            found["boxes"] += [box + shift, torch.cat([far, far + 4 + 8 * torch.rand(3, 2, generator=generator)], dim=1)]
            found["scores"] += [0.55 + 0.44 * closeness, 0.1 + 0.3 * torch.rand(3, generator=generator)]
            found["labels"] += [label.repeat(copies + 3)]
        return [{key: torch.cat(values) for key, values in found.items()} for _ in images]

    return model


def overlapping_pair(kind: str = "square", size: int = 32):
    """
    An image (3, size, size) of two shapes of one class side by side, whose
    boxes overlap with an IoU of about 0.65 (a small crowd), with their boxes
    (2, 4) and labels (2,) for simulated_detector: NMS at an IoU threshold of
    0.5 keeps only one of the two correct boxes.
    """
    r = torch.full((2,), float(round(size * 0.22)))
    # Boxes of width w = 2r + 1 whose centres are d = 0.18 w apart: IoU = (w - d) / (w + d), about 0.65.
    offset = round((2 * r[0].item() + 1) * 0.18)
    cx = torch.tensor([size / 2 - offset / 2, size / 2 + offset / 2])
    cy = torch.full((2,), size / 2)
    kinds = torch.full((2,), SHAPE_CLASSES.index(kind))
    masks = shape_masks(kinds, cx, cy, r, size)
    image = torch.full((3, size, size), 0.1)
    for mask, colour in zip(masks, ([0.9, 0.8, 0.3], [0.4, 0.7, 0.9])):
        image[:, mask] = torch.tensor(colour).view(3, 1)
    return image, mask_boxes(masks), kinds


def detect(model, image: torch.Tensor, nms, score_threshold: float = 0.5, iou_threshold: float = 0.5) -> dict:
    """
    The detections of one image (3, H, W): the model's raw boxes with a score
    of at least score_threshold, then nms(boxes, scores, iou_threshold) within
    each class (two boxes of different classes never suppress each other).

    Returns {"boxes": (K, 4), "labels": (K,), "scores": (K,), "before_nms": the
    same three for the boxes above score_threshold, before nms}.
    """
    with torch.no_grad():
        raw = model([image])[0]
    confident = raw["scores"] >= score_threshold
    boxes, labels, scores = raw["boxes"][confident], raw["labels"][confident], raw["scores"][confident]
    kept = []
    for label in labels.unique():
        members = torch.nonzero(labels == label)[:, 0]
        kept.append(members[torch.as_tensor(nms(boxes[members], scores[members], iou_threshold)).long()])
    index = torch.cat(kept) if kept else torch.zeros(0, dtype=torch.int64)
    index = index[scores[index].argsort(descending=True)]
    before = {"boxes": boxes, "labels": labels, "scores": scores}
    return {"boxes": boxes[index], "labels": labels[index], "scores": scores[index], "before_nms": before}


def draw_detections(image: torch.Tensor, found: dict, names=None, ax=None, title=None, text: bool = True):
    """
    The image (3, H, W) with its detections' boxes and, when text is True, each
    box's class name (names[label]; default: COCO's) and score above its top
    edge, outside the box.

    Matplotlib draws the boxes and labels at the figure's resolution, not the
    image's: a 32x32 image is shown enlarged with thin boxes and readable text
    (torchvision's draw_bounding_boxes writes into the image's own pixels,
    where a label is taller than a small image's objects).
    """
    from matplotlib.patches import Rectangle

    names = names or categories()
    ax = ax or plt.subplots(figsize=(8, 6))[1]
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    placed = []  # the corners labelled so far: a label near another's goes one line higher
    near = 0.15 * max(image.shape[1:])
    for box, label, score in zip(found["boxes"].tolist(), found["labels"].tolist(), found["scores"].tolist()):
        x0, y0, x1, y1 = box
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="yellow", linewidth=1.2))
        if text:
            line = sum(abs(x0 - x) < near and abs(y0 - y) < near for x, y in placed)
            placed.append((x0, y0))
            ax.annotate(f"{names[int(label)]} {score:.2f}", (x0, y0), xytext=(0, 2 + 11 * line), textcoords="offset points",
                        va="bottom", fontsize=8, bbox={"facecolor": "yellow", "alpha": 0.8, "pad": 1, "linewidth": 0},
                        annotation_clip=False)  # fmt: skip
    ax.axis("off")
    ax.set_title(title or f"{len(found['boxes'])} detections")
    return ax


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.detection", description="Downloads the detector's weights.")
    parser.add_argument("command", choices=["download"])
    parser.parse_args(argv)
    _weights().get_state_dict(progress=True, check_hash=True)
    print(f"the detector's weights are in {weights_path()}")


if __name__ == "__main__":
    main()
