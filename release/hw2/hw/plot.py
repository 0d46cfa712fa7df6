"""
Figures for the notebooks (provided): training curves and image grids.
"""
import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator


def plot_fit(fit_res, fig=None, log_loss=False, legend=None, train_test_overlay: bool = False):
    """
    Plots a FitResult: loss and accuracy per epoch, on the training and test sets.

    Inputs:
    - fit_res: the FitResult to plot.
    - fig: a figure returned by an earlier call, to draw this result on top
      of the earlier ones (for comparisons); None starts a new figure.
    - log_loss: plot the losses on a log scale.
    - legend: the name of this result in the legend.
    - train_test_overlay: one plot per metric with train and test together
      (2 plots) instead of one plot per metric and set (4 plots).

    Returns:
    - (fig, axes): the figure and its axes.
    """
    if fig is None:
        nrows = 1 if train_test_overlay else 2
        fig, axes = plt.subplots(nrows=nrows, ncols=2, figsize=(8 * 2, 5 * nrows), sharex="col", squeeze=False)
        axes = axes.reshape(-1)
    else:
        axes = fig.axes

    for ax in axes:
        for line in ax.lines:
            if line.get_label() == legend:
                line.remove()

    panels = itertools.product(["train", "test"], ["loss", "acc"])
    for i, (split, metric) in enumerate(panels):
        ax = axes[i % 2 if train_test_overlay else i]
        values = getattr(fit_res, f"{split}_{metric}")
        label = f"{split}" if train_test_overlay else legend
        if train_test_overlay and legend:
            label = f"{legend} ({split})"
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, label=label)
        ax.set_title(metric if train_test_overlay else f"{split} {metric}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epoch 1, 2, 3: never 1.5
        if metric == "loss":
            ax.set_ylabel("loss (mean over batches)")
            if log_loss:
                ax.set_yscale("log")
        else:
            ax.set_ylabel("accuracy (%)")
        if legend or train_test_overlay:
            ax.legend()
        ax.grid(True)
    return fig, axes


def tensors_as_images(tensors, nrows=1, figsize=(8, 8), titles=(), wspace=0.1, hspace=0.2, cmap=None):
    """
    Shows a list of images in a grid.

    Inputs:
    - tensors: image tensors of shape (C, H, W) (C = 1 or 3) or (H, W).
    - nrows: rows of the grid.
    - figsize, wspace, hspace: size of the figure and spacing of the grid.
    - titles: one title per image (optional).
    - cmap: colour map for one-channel images.

    Returns:
    - (fig, axes).
    """
    num_tensors = len(tensors)
    ncols = math.ceil(num_tensors / nrows)
    fig, axes = plt.subplots(
        nrows=nrows, ncols=ncols, figsize=figsize, gridspec_kw=dict(wspace=wspace, hspace=hspace), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
        if i >= num_tensors:
            continue
        image = torch.as_tensor(tensors[i]).detach().cpu().float()
        if image.dim() == 3:
            image = image.permute(1, 2, 0)  # (C, H, W) -> (H, W, C) for matplotlib
            if image.shape[2] == 1:
                image = image[..., 0]
        # Scale each image to [0, 1] so that normalised inputs show too.
        low, high = image.min(), image.max()
        image = (image - low) / (high - low) if high > low else image * 0
        ax.imshow(image.numpy(), cmap=cmap or ("gray" if image.dim() == 2 else None))
        if len(titles) > i and titles[i] is not None:
            ax.set_title(titles[i])
    return fig, axes


def dataset_first_n(dataset, n, show_classes=False, class_labels=None, random_start=False, **kw):
    """
    Shows the first ``n`` images of a dataset of (image, label) pairs.

    Inputs:
    - dataset: a dataset whose items start with (image, label).
    - n: how many images to show.
    - show_classes: put each image's class above it.
    - class_labels: names of the classes (default: ``dataset.classes`` when it exists).
    - random_start: start at a random index instead of 0.
    - kw: passed to tensors_as_images.

    Returns:
    - (fig, axes).
    """
    start = np.random.randint(0, len(dataset) - n) if random_start else 0
    items = [dataset[i] for i in range(start, start + n)]
    images = [item[0] for item in items]
    titles = []
    if show_classes:
        names = class_labels if class_labels is not None else getattr(dataset, "classes", None)
        titles = [names[int(item[1])] if names is not None else str(int(item[1])) for item in items]
    return tensors_as_images(images, titles=titles, **kw)
