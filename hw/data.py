"""
Datasets for the homework (provided; nothing to implement here).

Real datasets come through torchvision and are read from ``HW_DATA_DIR``
(default ``~/.pytorch-datasets``); nothing is downloaded unless you ask for it:

    python -m hw.data cifar10          # or cifar100, fashion_mnist

Two small datasets need no download and are what every notebook uses when the
environment variable ``HW_FAST=1`` is set (the autograder runs this way):

- ``Digits``: scikit-learn's bundled 8x8 handwritten digits (real data, 10 classes);
- ``Shapes``: synthetic 3x32x32 images of one coloured shape each (6 classes),
  with the shape's bounding box; the same images on every machine and every run.

Every dataset yields ``(image, label)`` pairs with ``image`` a float tensor of
shape (C, H, W) in [0, 1] (after the default transform) and ``label`` an int.
"""
import argparse
import os
import pickle
from pathlib import Path

import torch
from torch.utils.data import Dataset

DEFAULT_DATA_DIR = "~/.pytorch-datasets"


def data_dir() -> Path:
    """The folder that holds the real datasets: ``$HW_DATA_DIR``, or ~/.pytorch-datasets."""
    return Path(os.environ.get("HW_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()


def fast_mode() -> bool:
    """True when ``HW_FAST`` is set (and not "0"): use embedded data and short schedules."""
    return os.environ.get("HW_FAST", "") not in ("", "0")


class DatasetMissing(FileNotFoundError):
    """A real dataset is not on disk; the message says how to get it."""


# -- real datasets (torchvision) ---------------------------------------------------------
# torchvision is imported where a real dataset is read, not at the top: importing it takes
# a second or two, and the embedded datasets (all that HW_FAST=1 and the grader use) do not need it.

REAL_DATASETS = {
    # name: (what to call it, download size)
    "cifar10": ("CIFAR-10", "170 MB"),
    "cifar100": ("CIFAR-100", "170 MB"),
    "fashion_mnist": ("FashionMNIST", "30 MB"),
}


def _cifar100_coarse(**kwargs):
    """
    CIFAR-100 labelled with its 20 coarse superclasses (``classes`` holds their
    names, e.g. "aquatic_mammals", "vehicles_1") instead of the 100 fine classes.
    """
    import torchvision

    class CIFAR100Coarse(torchvision.datasets.CIFAR100):
        meta = {**torchvision.datasets.CIFAR100.meta, "key": "coarse_label_names"}

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # torchvision keeps only the fine labels; the coarse ones sit in the same files.
            self.targets = []
            for file_name, _ in self.train_list if self.train else self.test_list:
                with open(os.path.join(self.root, self.base_folder, file_name), "rb") as f:
                    self.targets.extend(pickle.load(f, encoding="latin1")["coarse_labels"])

    return CIFAR100Coarse(**kwargs)


def _real(name, train, transform, download=False):
    import torchvision
    import torchvision.transforms as T

    title, size = REAL_DATASETS[name]
    build = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": _cifar100_coarse,
             "fashion_mnist": torchvision.datasets.FashionMNIST}[name]  # fmt: skip
    root = data_dir()
    try:
        return build(root=str(root), train=train, transform=transform or T.ToTensor(), download=download)
    except RuntimeError as exc:
        raise DatasetMissing(
            f"{title} was not found in {root} ({exc}).\n"
            f"- To download it ({size}) into that folder, run:  python -m hw.data {name}\n"
            f"- To keep it elsewhere, set HW_DATA_DIR to the folder that holds it.\n"
            f"- To work without it, set HW_FAST=1 (before starting Jupyter): the notebooks then use "
            f"the small datasets bundled with the homework."
        ) from None


def cifar10(train: bool = True, transform=None):
    """CIFAR-10: 50,000 train / 10,000 test images (3, 32, 32) in 10 classes."""
    return _real("cifar10", train, transform)


def cifar100(train: bool = True, transform=None):
    """CIFAR-100 with the 20 coarse superclasses as labels: images (3, 32, 32)."""
    return _real("cifar100", train, transform)


def fashion_mnist(train: bool = True, transform=None):
    """FashionMNIST: 60,000 train / 10,000 test images (1, 28, 28) in 10 classes."""
    return _real("fashion_mnist", train, transform)


# -- embedded datasets -------------------------------------------------------------------


class TensorImages(Dataset):
    """Images held in memory as one tensor (N, C, H, W) with integer labels (N,)."""

    def __init__(self, images, targets, classes, transform=None):
        self.images = images
        self.targets = targets
        self.classes = list(classes)
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])


class Digits(TensorImages):
    """
    scikit-learn's handwritten digits: 1,797 real images (1, 8, 8) in [0, 1],
    10 classes. A fixed 80/20 split: 1,437 train and 360 test images. With
    size, the images are enlarged to (1, size, size) by bilinear interpolation
    (for networks made for 32x32 images).
    """

    def __init__(self, train: bool = True, transform=None, size: int = 8):
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        if size != images.shape[-1]:
            images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        targets = torch.tensor(digits.target, dtype=torch.int64)
        order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(0))
        num_train = int(0.8 * len(targets))
        keep = order[:num_train] if train else order[num_train:]
        super().__init__(images[keep], targets[keep], [str(d) for d in range(10)], transform)


SHAPE_CLASSES = ("disk", "square", "triangle", "cross", "ring", "frame")


def shape_masks(kinds, cx, cy, r, size=32):
    """
    Boolean masks (N, size, size) of one shape per sample: ``kinds`` indexes
    SHAPE_CLASSES, (cx, cy) is the centre and r the half-size, all (N,) tensors.
    """
    ys = torch.arange(size, dtype=torch.float32).view(1, size, 1)
    xs = torch.arange(size, dtype=torch.float32).view(1, 1, size)
    dx, dy = xs - cx.view(-1, 1, 1), ys - cy.view(-1, 1, 1)
    r = r.view(-1, 1, 1)
    adx, ady, dist = dx.abs(), dy.abs(), (dx * dx + dy * dy).sqrt()
    square = (adx <= r) & (ady <= r)
    candidates = torch.stack(
        [
            dist <= r,  # disk
            square,  # square
            (dy >= -r) & (dy <= r) & (adx <= (dy + r) / 2),  # triangle, apex up
            ((adx <= r / 3) & (ady <= r)) | ((ady <= r / 3) & (adx <= r)),  # cross
            (dist <= r) & (dist >= 0.55 * r),  # ring
            square & ~((adx <= 0.55 * r) & (ady <= 0.55 * r)),  # frame
        ]
    )
    return candidates[kinds, torch.arange(len(kinds))]


def mask_boxes(masks):
    """Bounding boxes (N, 4) as (x1, y1, x2, y2) of boolean masks (N, H, W); x2, y2 exclusive."""
    cols, rows = masks.any(dim=1), masks.any(dim=2)
    index = torch.arange(masks.shape[-1])

    def span(present):
        first = torch.where(present, index, masks.shape[-1]).min(dim=1).values
        last = torch.where(present, index, -1).max(dim=1).values
        return first, last + 1

    x1, x2 = span(cols)
    y1, y2 = span(rows)
    return torch.stack([x1, y1, x2, y2], dim=1).float()


def make_shapes(num_samples: int, seed: int, size: int = 32):
    """
    Renders ``num_samples`` images of shapes from a generator seeded with ``seed``.

    Returns:
    - images: float tensor (N, 3, size, size) in [0, 1]: a dark noisy
      background and one bright shape of a random colour, size and position.
    - labels: int64 tensor (N,), indices into SHAPE_CLASSES.
    - boxes: float tensor (N, 4), the shape's box (x1, y1, x2, y2), x2 and y2 exclusive.
    """
    gen = torch.Generator().manual_seed(seed)
    n = num_samples
    labels = torch.randint(len(SHAPE_CLASSES), (n,), generator=gen)
    r = 4.0 + 6.0 * torch.rand(n, generator=gen)
    cx = r + 1 + (size - 3 - 2 * r) * torch.rand(n, generator=gen)
    cy = r + 1 + (size - 3 - 2 * r) * torch.rand(n, generator=gen)
    # In chunks and in place: the same values as whole-batch arithmetic, with a few MB of temporaries, not hundreds.
    chunk = 512
    parts = [slice(i, i + chunk) for i in range(0, max(n, 1), chunk)]
    masks = torch.cat([shape_masks(labels[part], cx[part], cy[part], r[part], size) for part in parts])
    brightness = 0.25 * torch.rand(n, 3, 1, 1, generator=gen)
    images = torch.rand(n, 3, size, size, generator=gen).mul_(0.08).add_(brightness)  # the noisy background
    colour = 0.5 + 0.5 * torch.rand(n, 3, 1, 1, generator=gen)
    inside = masks.unsqueeze(1).expand(n, 3, size, size)
    images[inside] = colour.expand(n, 3, size, size)[inside]
    return images.clamp_(0, 1), labels, mask_boxes(masks)


class Shapes(TensorImages):
    """
    Synthetic images (3, 32, 32) of one shape each, in 6 classes (SHAPE_CLASSES),
    identical on every machine: 4,000 train and 1,000 test images by default.

    ``boxes[i]`` is the (x1, y1, x2, y2) box of the shape in image i, for
    localisation (CAM, Grad-CAM). With ``return_boxes=True`` every item is
    ``(image, label, box)``.
    """

    SEEDS = {True: 2024, False: 2025}

    def __init__(self, train: bool = True, num_samples: int | None = None, transform=None, return_boxes=False):
        num_samples = num_samples or (4000 if train else 1000)
        images, labels, self.boxes = make_shapes(num_samples, self.SEEDS[train])
        super().__init__(images, labels, SHAPE_CLASSES, transform)
        self.return_boxes = return_boxes

    def __getitem__(self, index):
        image, label = super().__getitem__(index)
        return (image, label, self.boxes[index]) if self.return_boxes else (image, label)


# -- what the notebooks use --------------------------------------------------------------


def image_classification(name: str = "cifar10"):
    """
    The (train, test) datasets of an experiment: the real dataset ``name``, or
    the embedded Shapes set (same image size as CIFAR) when HW_FAST=1.
    """
    if fast_mode():
        return Shapes(train=True), Shapes(train=False)
    loader = {"cifar10": cifar10, "cifar100": cifar100, "fashion_mnist": fashion_mnist}[name]
    return loader(train=True), loader(train=False)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.data", description="Downloads a dataset into HW_DATA_DIR.")
    parser.add_argument("name", choices=sorted(REAL_DATASETS))
    args = parser.parse_args(argv)
    for train in (True, False):
        dataset = _real(args.name, train, transform=None, download=True)
        print(f"{REAL_DATASETS[args.name][0]} ({'train' if train else 'test'}): {len(dataset)} images in {data_dir()}")


if __name__ == "__main__":
    main()
