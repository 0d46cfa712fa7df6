"""
Classifiers on top of a model that outputs class scores, and the tools to
choose a binary classifier's operating point.

A Classifier wraps any nn.Module that maps inputs (N, ...) to scores (N, C):
calling it returns the scores (so ClassifierTrainer trains it as it would
the model), predict_proba turns scores into class probabilities, and
classify turns probabilities into labels.
"""
import abc

import numpy as np
import torch
from torch import nn


class Classifier(nn.Module, abc.ABC):
    """
    Inputs:
    - model: an nn.Module mapping x of shape (N, ...) to scores of shape (N, C).

    Attributes:
    - model: the wrapped model (its parameters are the classifier's).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        """
        Inputs:
        - x: a batch of inputs, (N, ...).

        Returns:
        - scores: the model's class scores, (N, C).
        """
        return self.model(x)

    def predict_proba(self, x):
        """
        Inputs:
        - x: a batch of inputs, (N, ...).

        Returns:
        - y_proba: class probabilities of shape (N, C), each row summing to 1.
        """
        return self.predict_proba_scores(self.forward(x))

    def predict_proba_scores(self, z):
        """
        Inputs:
        - z: class scores of shape (N, C).

        Returns:
        - y_proba: softmax(z) over the classes, of shape (N, C):
          y_proba[i, c] = exp(z[i, c]) / sum_k exp(z[i, k]).
        """
        # TODO: Compute the softmax over the class dimension (torch.softmax
        #  subtracts each row's maximum, so large scores do not overflow).
        ### BEGIN SOLUTION
        y_proba = torch.softmax(z, dim=1)
        ### END SOLUTION
        return y_proba

    def classify(self, x):
        """
        Inputs:
        - x: a batch of inputs, (N, ...).

        Returns:
        - y_pred: predicted labels of shape (N,), dtype torch.long.
        """
        return self._classify(self.predict_proba(x))

    @abc.abstractmethod
    def _classify(self, y_proba):
        """Labels (N,) from class probabilities (N, C)."""


class ArgMaxClassifier(Classifier):
    """Predicts the class of highest probability."""

    def _classify(self, y_proba):
        # TODO: The index of each row's largest probability, as torch.long.
        ### BEGIN SOLUTION
        y_pred = y_proba.argmax(dim=1)
        ### END SOLUTION
        return y_pred


class BinaryClassifier(Classifier):
    """
    A classifier of two classes that predicts the positive class when its
    probability is at least a threshold.

    Inputs:
    - model: an nn.Module mapping x (N, ...) to scores (N, 2).
    - positive_class: the index (0 or 1) of the positive class.
    - threshold: the positive class is predicted when its probability is
      greater than or equal to this (as the thresholds of an ROC curve mean).
    """

    def __init__(self, model: nn.Module, positive_class: int = 1, threshold: float = 0.5):
        super().__init__(model)
        if positive_class not in (0, 1):
            raise ValueError(f"positive_class must be 0 or 1; got {positive_class!r}")
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be a probability in [0, 1]; got {threshold!r}")
        self.positive_class = positive_class
        self.threshold = threshold

    def _classify(self, y_proba):
        # TODO: Predict positive_class where its probability is greater than or
        #  equal to self.threshold and the other class elsewhere, as torch.long
        #  labels.
        ### BEGIN SOLUTION
        positive = y_proba[:, self.positive_class] >= self.threshold
        y_pred = torch.where(positive, self.positive_class, 1 - self.positive_class).long()
        ### END SOLUTION
        return y_pred


def select_roc_thresh(classifier: BinaryClassifier, x, y, plot: bool = False):
    """
    The threshold of the ROC curve's point closest to the ideal corner
    (false positive rate 0, true positive rate 1).

    Inputs:
    - classifier: a BinaryClassifier.
    - x: inputs (N, ...); y: their labels (N,), 0 or 1.
    - plot: also draw the ROC curve with the chosen point.

    Returns:
    - thresh: the chosen threshold on the positive class's probability, a float.
    """
    # Imported here, not at the top: importing it takes a second, and the
    # grader imports this module for every submission.
    from sklearn.metrics import roc_curve

    # TODO: Compute the positive class's probability of every sample (without
    #  building a graph), the ROC curve with sklearn.metrics.roc_curve (its
    #  pos_label is the classifier's positive_class), and set thresh to the
    #  roc_curve threshold whose point (fpr, tpr) minimises the distance
    #  sqrt(fpr^2 + (1 - tpr)^2) (the first one if several tie), unchanged
    #  (not rounded or shifted) and as a Python float.
    #  The plot below uses the names fpr, tpr (roc_curve's arrays), best (the
    #  index of the chosen point) and thresh: keep them.
    ### BEGIN SOLUTION
    with torch.no_grad():
        proba = classifier.predict_proba(x)[:, classifier.positive_class]
    fpr, tpr, thresholds = roc_curve(np.asarray(y), proba.cpu().numpy(), pos_label=classifier.positive_class)
    best = int(np.argmin(np.hypot(fpr, 1 - tpr)))
    thresh = float(thresholds[best])
    ### END SOLUTION
    if plot:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 5))
        ax.plot(fpr, tpr, color="C0", label="ROC curve")
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", label="chance")
        ax.scatter(fpr[best], tpr[best], color="C3", zorder=3, label=f"threshold {thresh:.3f}")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve", aspect="equal")
        ax.legend(loc="lower right")
    return thresh


def plot_decision_boundary_2d(classifier: Classifier, x, y, dx: float = 0.05, ax=None, cmap="coolwarm"):
    """
    Provided: draws the classifier's decision regions over a grid covering
    the samples, and the samples coloured by their label.

    Inputs:
    - classifier: a Classifier of 2-D inputs.
    - x: samples (N, 2); y: their labels (N,).
    - dx: the grid's spacing.
    - ax: the axes to draw on (a new figure when None).

    Returns:
    - (fig, ax): the figure and its axes.
    """
    import matplotlib.pyplot as plt  # see select_roc_thresh

    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 5))
    else:
        fig = ax.figure
    (x0_min, x1_min), (x0_max, x1_max) = x.min(dim=0).values - 0.5, x.max(dim=0).values + 0.5
    g0, g1 = torch.meshgrid(torch.arange(x0_min, x0_max, dx), torch.arange(x1_min, x1_max, dx), indexing="xy")
    with torch.no_grad():
        regions = classifier.classify(torch.stack([g0.flatten(), g1.flatten()], dim=1)).reshape(g0.shape)
    ax.contourf(g0.numpy(), g1.numpy(), regions.numpy(), alpha=0.3, cmap=cmap)
    ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), c=y.numpy(), s=12, edgecolor="k", linewidth=0.3, cmap=cmap)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title="Decision boundary")
    return fig, ax
