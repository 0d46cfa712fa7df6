"""
Part 6: looking inside a CNN.

Feature maps and filters show what a network computes; attribution maps
(saliency, guided backpropagation, CAM, Grad-CAM) show which pixels of an
input a class score depends on. They are built from two tools of PyTorch:

- forward hooks, to see what a layer outputs:
      handle = module.register_forward_hook(lambda module, inputs, output: ...)
      ...
      handle.remove()
- gradients of a class score with respect to the input or to a layer's
  output: torch.autograd.grad(score, tensor).

Every function here leaves the model as it found it: every hook it adds is
removed before it returns (also when it raises: use try/finally), the
parameters' .grad are not changed, and the model's mode (train or eval) is
the caller's choice.

Shapes: images x are (N, C, H, W); `target` is one class index for every
image (an int) or one per image (an int64 tensor (N,)); class_scores picks
the target scores out of the model's output.
"""
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn


class GAPNet(nn.Module):
    """
    A CNN that ends in global average pooling and one linear layer, the
    network of Class Activation Maps:

        [CONV 3x3 -> RELU -> [POOL]] * len(channels) -> global average pool -> FC

    Every convolution keeps the size (padding 1); a 2x2 max pooling follows
    each of them but the last, so the last feature maps are H / 2^(B-1) wide.

    Attributes:
    - features: nn.Sequential, images (N, C, H, W) -> feature maps A (N, K, h, w)
      (K = channels[-1]), ending in the last ReLU.
    - classifier: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(K, num_classes)).
    """

    def __init__(self, in_channels: int, num_classes: int, channels=(16, 32, 64)):
        super().__init__()
        layers, c_in = [], in_channels
        for i, c_out in enumerate(channels):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
            layers += [nn.MaxPool2d(2)] if i < len(channels) - 1 else []
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def class_scores(scores: torch.Tensor, target) -> torch.Tensor:
    """The score of class target[i] of image i: scores (N, num_classes) -> (N,)."""
    target = torch.as_tensor(target, device=scores.device).long().expand(scores.shape[0])
    return scores.gather(1, target[:, None])[:, 0]


# -- feature maps and filters ---------------------------------------------------------------


def feature_maps(model: nn.Module, x: torch.Tensor, layers) -> dict:
    """
    What chosen layers of a model output for the images x.

    Inputs:
    - model: an nn.Module.
    - x: images (N, C, H, W).
    - layers: names of submodules of model, as model.named_modules() names
      them (e.g. "features.0" for the first layer of model.features).

    Returns:
    - A dict {name: output of that layer (detached)} in the order of layers,
      e.g. a tensor (N, C', H', W') for a convolution.

    Raises KeyError naming the layer when a name is not a submodule of model,
    or when that submodule exists but does not run in model's forward pass
    (it has no output to keep). Either way no hook is left on the model.
    """
    # TODO: Look the modules up by name (dict(model.named_modules())), put a
    #  forward hook on each that keeps its output (detached), run the model on
    #  x without building a graph, and remove every hook, also on an error.
    raise NotImplementedError()
    return maps


def normalise_channels(maps: torch.Tensor) -> torch.Tensor:
    """
    Scales every channel of maps to [0, 1] on its own, for display.

    Inputs:
    - maps: a tensor (C, H, W).

    Returns:
    - A tensor (C, H, W): channel c is (maps[c] - min) / (max - min), with
      the min and max of that channel; a constant channel becomes all zeros.
    """
    # TODO: Per channel, subtract its minimum and divide by its range
    #  (amin / amax over the last two dimensions, keepdim=True); where the
    #  range is 0, the result is 0.
    raise NotImplementedError()
    return scaled


def filter_grid(weight: torch.Tensor, ncols: int = 8, pad: int = 1) -> torch.Tensor:
    """
    The filters of a convolution as one image, for display.

    Inputs:
    - weight: a convolution's weights (F, C, K, K) (C = 3 for RGB filters, or 1).
    - ncols: filters per row of the grid.
    - pad: pixels between two neighbouring filters.

    Returns:
    - An image (C, rows * K + (rows - 1) * pad, cols * K + (cols - 1) * pad)
      with cols = min(ncols, F) and rows = ceil(F / cols). Filter f sits in
      row f // cols and column f % cols, normalised on its own to [0, 1] over
      all its C channels together (so that its colours stay comparable); the
      padding and the cells after the last filter are 1 (white).
    """
    # TODO: Normalise each filter (min and max over its C x K x K values; a
    #  constant filter becomes 0), then copy it into a grid of ones.
    raise NotImplementedError()
    return grid


def plot_feature_maps(maps: dict, k: int = 8, image: int = 0):
    """One row per layer: its first k channels for one image, each normalised on its own."""
    fig, axes = plt.subplots(len(maps), k, figsize=(1.4 * k, 1.5 * len(maps)), squeeze=False)
    for row, (name, activation) in zip(axes, maps.items()):
        channels = normalise_channels(activation[image, :k].float().cpu())
        for c, ax in enumerate(row):
            ax.axis("off")
            if c < len(channels):
                ax.imshow(channels[c].numpy(), cmap="viridis", vmin=0, vmax=1)
        row[0].set_title(f"{name} {tuple(activation.shape[1:])}", fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def plot_filters(conv: nn.Conv2d, ncols: int = 8):
    """The learned filters of a (first) convolution as an image grid (filter_grid)."""
    grid = filter_grid(conv.weight.detach().cpu().float(), ncols)
    cells_wide, cells_high = grid.shape[2] / (conv.kernel_size[1] + 1), grid.shape[1] / (conv.kernel_size[0] + 1)
    fig, ax = plt.subplots(figsize=(1.0 * cells_wide, 1.0 * cells_high + 0.5))  # an inch per filter: 3x3 pixels stay visible
    ax.imshow(grid.permute(1, 2, 0).squeeze(2).numpy(), cmap="gray" if grid.shape[0] == 1 else None)
    ax.axis("off")
    ax.set_title(f"{conv.out_channels} filters {tuple(conv.weight.shape[1:])}")
    return fig


# -- attribution maps --------------------------------------------------------------------------


def saliency(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """
    Vanilla gradient saliency: how much each pixel changes the class score.

    Inputs:
    - model: maps images (N, C, H, W) to class scores (N, num_classes).
    - x: images (N, C, H, W).
    - target: the class whose score is explained (an int, or (N,) indices).

    Returns:
    - A tensor (N, H, W): max over the C channels of |d score / d x|, where
      score[i] is model(x)[i, target[i]].
    """
    # TODO: Take the gradient of the sum of the target scores with respect to
    #  a copy of x that requires grad (torch.autograd.grad: the parameters'
    #  .grad stay as they are), then its absolute value, max over channels.
    raise NotImplementedError()
    return sal


def guided_backprop(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """
    Guided backpropagation (Springenberg et al., 2015): the gradient of the
    class score with respect to the input, where every ReLU passes back only
    positive gradients, and only to positive inputs.

    A ReLU's own backward already sends the gradient only where its input was
    positive; guided backpropagation also zeroes the negative gradients it
    passes on. Only nn.ReLU modules can be changed this way (with a hook on
    the module): a network that calls F.relu in its forward is not guided.

    Inputs:
    - model: a network whose ReLUs are nn.ReLU modules (not in place).
    - x: images (N, C, H, W).
    - target: the class whose score is explained (an int, or (N,) indices).

    Returns:
    - A tensor (N, C, H, W): the guided gradient (signed, not its absolute value).
    """
    # TODO: Register a full backward hook on every nn.ReLU module of the model
    #  that returns its grad_input with the negative values set to 0; take the
    #  gradient of the target scores with respect to x; remove the hooks.
    raise NotImplementedError()
    return guided


def cam(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """
    Class Activation Map (Zhou et al., 2016) of a GAPNet: a network whose
    model.features(x) gives feature maps A (N, K, h, w) and whose
    model.classifier is global average pooling, Flatten and one nn.Linear.

    The score of class c is sum_k w[c, k] * mean(A_k) + b[c], so the map

        CAM_c(i, j) = sum_k w[c, k] * A_k(i, j)

    says how much each position of the feature maps adds to it.

    Inputs:
    - model: a GAPNet (see above).
    - x: images (N, C, H, W).
    - target: the class whose map is computed (an int, or (N,) indices).

    Returns:
    - A tensor (N, h, w) at the feature maps' resolution (no ReLU, no
      upsampling: upsample(maps, size) scales it to the image for display).
    """
    # TODO: Compute A = model.features(x) without a graph, take the rows of the
    #  last linear layer's weight for each image's target class (N, K), and
    #  sum w[c, k] * A_k over k.
    raise NotImplementedError()
    return activation_map


def grad_cam(model: nn.Module, x: torch.Tensor, target, layer: nn.Module) -> torch.Tensor:
    """
    Grad-CAM (Selvaraju et al., 2017) at any convolutional layer.

    With A (N, K, h, w) the output of layer and y the target class scores:

        alpha_k = mean over (i, j) of d y / d A_k(i, j)       (one weight per channel)
        map     = ReLU(sum_k alpha_k * A_k)                   (N, h, w)

    then upsampled to the input's (H, W) with bilinear interpolation
    (F.interpolate, mode="bilinear", align_corners=False).

    Inputs:
    - model: maps images (N, C, H, W) to class scores (N, num_classes).
    - x: images (N, C, H, W).
    - target: the class whose map is computed (an int, or (N,) indices).
    - layer: the module of model whose output A is used (e.g. model.features[-1]).

    Returns:
    - A tensor (N, H, W), non-negative.

    Raises ValueError when layer does not run in the model's forward.
    """
    # TODO: A forward hook on layer keeps its output A (removed afterwards);
    #  torch.autograd.grad of the summed target scores with respect to A gives
    #  the gradients; weight, sum over channels, ReLU, then upsample.
    raise NotImplementedError()
    return heat


def upsample(maps: torch.Tensor, size) -> torch.Tensor:
    """Maps (N, h, w) to (N, H, W) by bilinear interpolation (align_corners=False), for display over images."""
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def show_maps(images: torch.Tensor, maps: torch.Tensor, titles=None, ncols: int = 5, alpha: float = 0.5):
    """Each image (N, 3, H, W) with its map (N, H, W) over it, the map normalised to [0, 1] per image."""
    n = len(images)
    rows = math.ceil(n / ncols)
    # Constrained layout leaves room for a title the caller adds (fig.suptitle) above the images' own titles.
    fig, axes = plt.subplots(rows, ncols, figsize=(2.0 * ncols, 2.1 * rows + 0.4), squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy())
        heat = normalise_channels(maps[i : i + 1].detach().float().cpu())[0]
        ax.imshow(heat.numpy(), cmap="jet", alpha=alpha, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    return fig


# -- detection -------------------------------------------------------------------------------


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """
    Intersection over union of every pair of boxes.

    Inputs:
    - boxes1: (N, 4) boxes (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2.
    - boxes2: (M, 4) boxes, the same way.

    Returns:
    - A tensor (N, M): entry [i, j] is area(b1_i & b2_j) / area(b1_i | b2_j),
      where a box's area is (x2 - x1) * (y2 - y1) and two boxes that do not
      overlap have an intersection of 0.
    """
    # TODO: Broadcast (N, 1, 2) against (1, M, 2) for the corners of the
    #  intersections (max of the top-left corners, min of the bottom-right
    #  ones), clamp their width and height at 0, then divide.
    raise NotImplementedError()
    return iou


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """
    Non-maximum suppression: keeps the best-scoring box, removes every box
    that overlaps it by more than iou_threshold (IoU > iou_threshold,
    strictly), and repeats with the best box left.

    Inputs:
    - boxes: (N, 4) boxes (x1, y1, x2, y2).
    - scores: (N,) their scores.
    - iou_threshold: the overlap above which a box is suppressed.

    Returns:
    - An int64 tensor (K,): the indices of the kept boxes, by decreasing
      score; among equal scores, the box that comes first in boxes first.
    """
    # TODO: Order the boxes by decreasing score (a stable sort keeps ties in
    #  their order), compute box_iou once, and walk the order keeping a box
    #  unless a kept box overlaps it by more than the threshold.
    raise NotImplementedError()
    return kept
