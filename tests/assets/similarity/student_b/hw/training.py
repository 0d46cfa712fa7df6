"""
Training loops at three levels of granularity:

- many epochs: ``Trainer.fit`` returns a ``FitResult``;
- one epoch: ``train_epoch`` / ``test_epoch`` return an ``EpochResult``;
- one batch: ``train_batch`` / ``test_batch`` return a ``BatchResult``.

``Trainer`` implements the first two levels once; its subclasses implement the
batch level for a kind of model: ``LayerTrainer`` for our own Layers and
optimizers (``hw.layers``, ``hw.optimizers``), ``ClassifierTrainer`` for any
``torch.nn.Module`` with a ``torch.optim`` optimizer, on any device.
"""
import abc
import os
from typing import Callable, NamedTuple

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm


class BatchResult(NamedTuple):
    """The loss of one batch (a float) and how many of its samples were classified correctly."""

    loss: float
    num_correct: int


class EpochResult(NamedTuple):
    """The loss of every batch of one epoch, and the accuracy over the epoch in percent."""

    losses: list[float]
    accuracy: float


class FitResult(NamedTuple):
    """
    What ``fit`` measured, one entry per epoch that ran (``num_epochs`` of them):
    the mean batch loss and the accuracy in percent, on the training and test sets.
    """

    num_epochs: int
    train_loss: list[float]
    train_acc: list[float]
    test_loss: list[float]
    test_acc: list[float]


class Trainer(abc.ABC):
    """
    Trains a model and evaluates it, epoch after epoch.

    Inputs:
    - model: the model to train (one of our Layers, or an nn.Module).
    - loss_fn: the loss, called as ``loss_fn(scores, y)``.
    - optimizer: updates the model's parameters on ``step()``.
    - device: where to train an nn.Module ("cpu", "cuda", a torch.device); None
      leaves the model where it is.
    - lr_schedule: a learning-rate schedule such as hw.optimizers.StepDecay,
      stepped by fit() at the end of every epoch; None keeps the rate fixed.
    """

    def __init__(self, model, loss_fn, optimizer, device=None, lr_schedule=None):
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.device = device
        self.lr_schedule = lr_schedule
        if device is not None:
            model.to(device)

    def fit(
        self,
        dl_train: DataLoader,
        dl_test: DataLoader,
        num_epochs: int,
        checkpoints: str = None,
        early_stopping: int = None,
        print_every: int = 1,
        **kw,
    ) -> FitResult:
        """
        Trains for several epochs, evaluating on the test set after each one.

        Inputs:
        - dl_train, dl_test: the training and test batches.
        - num_epochs: how many epochs to train at most.
        - checkpoints: a file name without extension, or None. When given, the
          model and the optimizer are saved to ``{checkpoints}.pt`` every time the
          test loss reaches a new minimum, and loaded back from it when fit()
          ends, so the model ends in its best state. If the file already exists
          when fit() starts, training resumes from it.
        - early_stopping: stop after this many epochs in a row without a new
          minimum of the test loss; None never stops early.
        - print_every: show progress bars every this many epochs (and the last).
        - kw: passed to train_epoch and test_epoch (e.g. ``max_batches``).

        Returns:
        - A FitResult with one entry per epoch that ran: the mean of the epoch's
          batch losses and its accuracy, for training and for test.
        """
        actual_num_epochs = 0
        train_loss, train_acc, test_loss, test_acc = [], [], [], []
        best_test_loss = None
        epochs_without_improvement = 0

        checkpoint_file = None if checkpoints is None else f"{checkpoints}.pt"
        if checkpoint_file is not None and os.path.isfile(checkpoint_file):
            best_test_loss = self.load_checkpoint(checkpoint_file)
            print(f"*** Resuming from {checkpoint_file} (best test loss {best_test_loss:.3f})")

        for epoch in range(num_epochs):
            verbose = epoch % print_every == 0 or epoch == num_epochs - 1
            if verbose:
                print(f"--- EPOCH {epoch + 1}/{num_epochs} ---")

            epoch_train = self.train_epoch(dl_train, verbose=verbose, **kw)
            epoch_test = self.test_epoch(dl_test, verbose=verbose, **kw)
            actual_num_epochs += 1

            mean_train_loss = sum(epoch_train.losses) / max(len(epoch_train.losses), 1)
            mean_test_loss = sum(epoch_test.losses) / max(len(epoch_test.losses), 1)
            train_loss.append(mean_train_loss)
            train_acc.append(epoch_train.accuracy)
            test_loss.append(mean_test_loss)
            test_acc.append(epoch_test.accuracy)

            if best_test_loss is None or mean_test_loss < best_test_loss:
                best_test_loss = mean_test_loss
                epochs_without_improvement = 0
                if checkpoint_file is not None:
                    self.save_checkpoint(checkpoint_file, best_test_loss)
            else:
                epochs_without_improvement += 1
                if early_stopping is not None and epochs_without_improvement >= early_stopping:
                    if verbose:
                        print(f"*** Early stopping after epoch {epoch + 1}: "
                              f"{epochs_without_improvement} epochs without a lower test loss")
                    break
            if self.lr_schedule is not None:
                self.lr_schedule.step()

        if checkpoint_file is not None and os.path.isfile(checkpoint_file):
            self.load_checkpoint(checkpoint_file)
        return FitResult(actual_num_epochs, train_loss, train_acc, test_loss, test_acc)

    def train_epoch(self, dl_train: DataLoader, **kw) -> EpochResult:
        """
        Trains once over a training set.

        Inputs:
        - dl_train: the training batches.
        - kw: passed to _foreach_batch (``verbose``, ``max_batches``).

        Returns:
        - An EpochResult for the epoch.
        """
        self.model.train(True)
        return self._foreach_batch(dl_train, self.train_batch, **kw)

    def test_epoch(self, dl_test: DataLoader, **kw) -> EpochResult:
        """
        Evaluates the model once over a test set, without changing it.

        Inputs:
        - dl_test: the test batches.
        - kw: passed to _foreach_batch (``verbose``, ``max_batches``).

        Returns:
        - An EpochResult for the epoch.
        """
        self.model.train(False)
        return self._foreach_batch(dl_test, self.test_batch, **kw)

    @abc.abstractmethod
    def train_batch(self, batch) -> BatchResult:
        """
        Runs one batch forward through the model, computes the loss,
        back-propagates it and updates the parameters.

        Inputs:
        - batch: one batch of a DataLoader: ``(X, y)`` with X of shape
          (N, C, H, W) (or (N, D)) and y of shape (N,).

        Returns:
        - A BatchResult: the loss (a float) and the number of samples whose
          highest score is their label, both computed before the update.
        """

    @abc.abstractmethod
    def test_batch(self, batch) -> BatchResult:
        """
        Runs one batch forward through the model and computes the loss; changes
        nothing in the model.

        Inputs:
        - batch: as for train_batch.

        Returns:
        - A BatchResult: the loss and the number of correctly classified samples.
        """

    def save_checkpoint(self, path, best_test_loss: float):
        """Saves the model's and the optimizer's state to ``path``."""
        state = {
            "best_test_loss": float(best_test_loss),
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
        }
        torch.save(state, path)

    def load_checkpoint(self, path) -> float:
        """Restores the model and the optimizer from ``path``; returns the best test loss saved there."""
        state = torch.load(path, weights_only=True)
        self.model.load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        return state["best_test_loss"]

    @staticmethod
    def _foreach_batch(
        dl: DataLoader, forward_fn: Callable[..., BatchResult], verbose=True, max_batches=None
    ) -> EpochResult:
        """
        Runs ``forward_fn`` on the batches of ``dl`` (at most ``max_batches`` of
        them) with a progress bar, and sums up the epoch.
        """
        num_batches = len(dl) if max_batches is None else min(max_batches, len(dl))
        losses, num_correct, num_samples = [], 0, 0
        name = forward_fn.__name__
        with tqdm(total=num_batches, desc=name, disable=not verbose, leave=True) as bar:
            for _, batch in zip(range(num_batches), dl):
                result = forward_fn(batch)
                losses.append(float(result.loss))
                num_correct += int(result.num_correct)
                num_samples += len(batch[1])
                bar.set_description(f"{name} (loss {result.loss:.3f})")
                bar.update()
            accuracy = 100.0 * num_correct / max(num_samples, 1)
            mean_loss = sum(losses) / max(len(losses), 1)
            bar.set_description(f"{name} (mean loss {mean_loss:.3f}, accuracy {accuracy:.1f}%)")
        return EpochResult(losses=losses, accuracy=accuracy)


class LayerTrainer(Trainer):
    """
    Trains our own Layers (hw.layers) with our own optimizers (hw.optimizers).

    Inputs:
    - model: a Layer that maps a batch to (N, C) class scores.
    - loss_fn: a loss Layer such as CrossEntropyLoss, called as loss_fn(scores, y=y).
    - optimizer: an hw.optimizers.Optimizer over ``model.params()``.
    - lr_schedule: optional, see Trainer.
    - flatten: reshape each batch to (N, D) before the model (an MLP needs
      it); False keeps images (N, C, H, W) for a model that starts with Conv2d.
    """

    def __init__(self, model, loss_fn, optimizer, lr_schedule=None, flatten=True):
        super().__init__(model, loss_fn, optimizer, device=None, lr_schedule=lr_schedule)
        self.flatten = flatten

    def train_batch(self, batch) -> BatchResult:
        X, y = batch[0], batch[1]
        if self.flatten:
            X = X.reshape(X.shape[0], -1)
        scores = self.model(X)
        loss = self.loss_fn(scores, y=y)
        self.optimizer.zero_grad()
        self.model.backward(self.loss_fn.backward())
        self.optimizer.step()
        num_correct = int((scores.argmax(dim=1) == y).sum())
        return BatchResult(float(loss), num_correct)

    def test_batch(self, batch) -> BatchResult:
        X, y = batch[0], batch[1]
        if self.flatten:
            X = X.reshape(X.shape[0], -1)
        scores = self.model(X)
        loss = self.loss_fn(scores, y=y)
        num_correct = int((scores.argmax(dim=1) == y).sum())
        return BatchResult(float(loss), num_correct)


class ClassifierTrainer(Trainer):
    """
    Trains any nn.Module classifier with a torch.optim optimizer.

    Inputs:
    - model: an nn.Module mapping a batch X to class scores (N, C).
    - loss_fn: e.g. nn.CrossEntropyLoss(), called as loss_fn(scores, y).
    - optimizer: a torch.optim optimizer over ``model.parameters()``.
    - device: where to train ("cpu", "cuda", ...); batches are moved there.
    - lr_schedule: optional, see Trainer.
    """

    def train_batch(self, batch) -> BatchResult:
        X, y = batch[0], batch[1]
        if self.device is not None:
            X, y = X.to(self.device), y.to(self.device)
        scores = self.model(X)
        loss = self.loss_fn(scores, y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        num_correct = int((scores.detach().argmax(dim=1) == y).sum().item())
        return BatchResult(loss.item(), num_correct)

    def test_batch(self, batch) -> BatchResult:
        X, y = batch[0], batch[1]
        if self.device is not None:
            X, y = X.to(self.device), y.to(self.device)
        with torch.no_grad():
            scores = self.model(X)
            loss = self.loss_fn(scores, y)
            num_correct = int((scores.argmax(dim=1) == y).sum().item())
        return BatchResult(float(loss), num_correct)
