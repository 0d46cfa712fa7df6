"""
The training loops of Part 5's studies (provided; nothing to implement here).

Each study calls functions you write: effective_smoothness, corrupt_labels
and confusion_matrix (hw/experiments.py), TextCNN (hw/text.py), and your
ClassifierTrainer (hw/training.py).
"""
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from hw.experiments import corrupt_labels, effective_smoothness, full_gradient
from hw.training import ClassifierTrainer, FitResult


def default_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def train_classifier(model, ds_train, ds_test, epochs, batch_size=128, lr=1e-3, reg=0.0, seed=0, device=None,
                     collate_fn=None, verbose=False) -> FitResult:  # fmt: skip
    """
    Trains model with Adam (learning rate lr, weight decay reg) and your
    ClassifierTrainer on shuffled batches of ds_train, testing on ds_test
    after every epoch.

    Returns:
    - The FitResult of the epochs.
    """
    torch.manual_seed(seed)
    dl_train = DataLoader(ds_train, batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
                          collate_fn=collate_fn)  # fmt: skip
    dl_test = DataLoader(ds_test, 4 * batch_size, collate_fn=collate_fn)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=reg)
    trainer = ClassifierTrainer(model, nn.CrossEntropyLoss(), optimizer, device or default_device())
    return trainer.fit(dl_train, dl_test, epochs, print_every=1 if verbose else epochs + 1)


def ablation(make_model, switches: dict, ds_train, ds_test, **train_kw) -> dict:
    """
    Trains make_model(**switch) for each named switch of switches (e.g.
    {"BN + dropout": dict(batchnorm=True, dropout=0.3), ...}), from the same
    seed. Returns {name: FitResult}.
    """
    results = {}
    for name, switch in tqdm(switches.items(), desc="ablation", unit="model"):
        torch.manual_seed(train_kw.get("seed", 0))
        results[name] = train_classifier(make_model(**switch), ds_train, ds_test, **train_kw)
    return results


# -- effective smoothness ----------------------------------------------------------------


def smoothness_net(batchnorm: bool, in_size=(1, 28, 28), num_classes=10, channels=(16, 32)) -> nn.Sequential:
    """
    Two convolutions, each followed by ReLU and 2x2 max pooling, and with
    batchnorm a BatchNorm2d after each pooling layer; then one linear layer:

        [CONV 3x3 -> RELU -> POOL -> [BN]] * 2 -> FC
    """
    layers, c_in = [], in_size[0]
    for c_out in channels:
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        layers += [nn.BatchNorm2d(c_out)] if batchnorm else []
        c_in = c_out
    size = (in_size[1] // 4) * (in_size[2] // 4)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * size, num_classes))


def accuracy(model, dl, device) -> float:
    """Test accuracy in percent, in evaluation mode (the mode is restored)."""
    was_training, correct, total = model.training, 0, 0
    model.eval()
    with torch.no_grad():
        for X, y in dl:
            correct += int((model(X.to(device)).argmax(dim=1).cpu() == y).sum())
            total += len(y)
    model.train(was_training)
    return 100.0 * correct / total


def on_device(ds, device, batch_size=1000):
    """The whole data set as a list of batches already on the device (the full gradient reads it twice per pass)."""
    return [(X.to(device), y.to(device)) for X, y in DataLoader(ds, batch_size)]


def smoothness_study(ds_train, ds_test, passes=10, lr=0.04, batch_size=32, seed=0, device=None) -> dict:
    """
    Trains smoothness_net with and without BatchNorm by minibatch SGD (lr,
    batch_size) for passes passes over ds_train. After every pass it records
    the mean training loss of the pass, the test accuracy, and the effective
    local smoothness L(w; u) of the full training loss in the direction u of
    one more minibatch SGD step (u = -lr * its minibatch gradient).

    Returns:
    - {"plain": curves, "batchnorm": curves}, curves a dict of lists
      "train_loss", "test_acc" and "smoothness" (one entry per pass).
    """
    device = device or default_device()
    in_size, num_classes = tuple(ds_train[0][0].shape), len(ds_train.classes)
    whole_train = on_device(ds_train, device)
    dl_test = DataLoader(ds_test, 1000)
    loss_fn = nn.CrossEntropyLoss()
    studies = {}
    for name, batchnorm in (("plain", False), ("batchnorm", True)):
        torch.manual_seed(seed)
        model = smoothness_net(batchnorm, in_size, num_classes).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        order = torch.Generator().manual_seed(seed)
        curves = {"train_loss": [], "test_acc": [], "smoothness": []}
        for _ in tqdm(range(passes), desc=f"{name} network", unit="pass"):
            model.train()
            losses = []
            for X, y in DataLoader(ds_train, batch_size, shuffle=True, generator=order):
                loss = loss_fn(model(X.to(device)), y.to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            X, y = next(iter(DataLoader(ds_train, batch_size, shuffle=True, generator=order)))
            step = [-lr * g for g in full_gradient(model, loss_fn, [(X.to(device), y.to(device))])]
            curves["smoothness"].append(effective_smoothness(model, loss_fn, whole_train, step))
            curves["train_loss"].append(sum(losses) / len(losses))
            curves["test_acc"].append(accuracy(model, dl_test, device))
        studies[name] = curves
    return studies


# -- label noise -------------------------------------------------------------------------


def labels_of(ds) -> torch.Tensor:
    """The labels (N,) of an image data set, read without loading its images."""
    targets = getattr(ds, "targets", None)
    if targets is None and isinstance(ds, Subset):
        return labels_of(ds.dataset)[torch.as_tensor(ds.indices)]
    return torch.as_tensor(targets, dtype=torch.int64)


class Relabelled(torch.utils.data.Dataset):
    """A data set's images with other labels."""

    def __init__(self, ds, labels):
        self.ds, self.labels = ds, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.ds[index][0], int(self.labels[index])


def label_noise_study(make_model, ds_train, ds_val, fractions, num_classes, seed=0, **train_kw) -> dict:
    """
    For each fraction of fractions: corrupts that fraction of the training
    labels with corrupt_labels (the validation labels stay clean), trains
    make_model() on them and records the final training accuracy (on the
    noisy labels), the final validation accuracy and the time.

    Returns:
    - {fraction: {"train_acc": ..., "val_acc": ..., "seconds": ...}}.
    """
    clean = labels_of(ds_train)
    results = {}
    for fraction in tqdm(fractions, desc="label noise", unit="fraction"):
        noisy = corrupt_labels(clean, fraction, num_classes, torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        start = time.perf_counter()
        fit = train_classifier(make_model(), Relabelled(ds_train, noisy), ds_val, seed=seed, **train_kw)
        results[fraction] = {"train_acc": fit.train_acc[-1], "val_acc": fit.test_acc[-1],
                             "seconds": time.perf_counter() - start}  # fmt: skip
    return results


def split(ds, num_val, seed=0):
    """(train, validation): a random split of ds with num_val samples in the validation part."""
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))
    return Subset(ds, order[num_val:].tolist()), Subset(ds, order[:num_val].tolist())

