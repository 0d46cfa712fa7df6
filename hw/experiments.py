"""
Part 5: experiments on CNN architectures, and the studies of the part.

One experiment run trains one configuration and writes one result file,

    {out_dir}/{run_name}_L{L}_K{K1-K2-...}.json

with the whole configuration (enough to repeat the run) and its FitResult.
The notebook only reads these files, so runs can happen anywhere (a machine
with a GPU, a cluster) and be copied back into results/.

From the command line, in the homework's folder (always with -m):

    python -m hw.experiments run-exp -n exp1_1 -K 32 -L 2 -P 2 -H 100

and the grids of runs, in parallel on Dask, with hw/grid.py (python -m hw.grid
exp1_1). With HW_FAST=1 every run uses the embedded Shapes images and the
grids shrink to a few tiny configurations.
"""
import argparse
import copy
import glob
import json
import os
import random
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from hw.cnn import CNN, ResNet, YourCNN
from hw.data import image_classification
from hw.training import ClassifierTrainer, FitResult

MODEL_TYPES = {"cnn": CNN, "resnet": ResNet, "yourcnn": YourCNN}


def result_name(run_name: str, layers_per_block: int, filters_per_layer) -> str:
    """The result file's name of a run: ``{run_name}_L{L}_K{K1-K2-...}.json``."""
    return f"{run_name}_L{layers_per_block}_K{'-'.join(str(k) for k in filters_per_layer)}.json"


def run_experiment(
    run_name,
    out_dir="results",
    seed=None,
    device=None,
    # Training
    bs_train=128,
    bs_test=None,
    batches=100,
    epochs=100,
    early_stopping=3,
    checkpoints=None,
    lr=1e-3,
    reg=1e-3,
    # Model
    filters_per_layer=(64,),
    layers_per_block=2,
    pool_every=2,
    hidden_dims=(1024,),
    model_type="cnn",
    dataset="cifar10",
    **kw,
):
    """
    Trains one model configuration and saves the configuration and its FitResult.

    The model has L = layers_per_block convolutions of each width in
    filters_per_layer: K=[32, 64], L=2 gives channels [32, 32, 64, 64].

    Inputs:
    - run_name: the experiment's name, the start of the result file's name.
    - out_dir: the folder of the result file.
    - seed: the random seed of the run (model initialisation, batch order);
      None draws one, which is saved with the results.
    - device: where to train ("cpu", "cuda", ...); None trains on a GPU when
      there is one.
    - bs_train, bs_test: batch sizes for training and testing (bs_test None:
      the same as bs_train).
    - batches: the number of batches of each epoch, in training and in testing.
    - epochs, early_stopping, checkpoints: passed to Trainer.fit.
    - lr, reg: the learning rate and the L2 regularisation (weight decay) of
      the Adam optimizer.
    - filters_per_layer: K, the widths of the convolutions, e.g. [32, 64].
    - layers_per_block: L, how many convolutions of each width.
    - pool_every: P, convolutions between two pooling layers.
    - hidden_dims: the hidden fully connected layers, e.g. [100].
    - model_type: "cnn" (hw.cnn.CNN), "resnet" (hw.cnn.ResNet) or "yourcnn"
      (hw.cnn.YourCNN, which takes only in_size and out_classes).
    - dataset: "cifar10", "cifar100" or "fashion_mnist" (the Shapes images with HW_FAST=1).
    - kw: more keyword arguments of the model class (e.g. batchnorm=True for ResNet).

    Returns:
    - The path of the result file.
    """
    cfg = dict(run_name=run_name, out_dir=out_dir, seed=seed, device=device, bs_train=bs_train, bs_test=bs_test,
               batches=batches, epochs=epochs, early_stopping=early_stopping, checkpoints=checkpoints, lr=lr, reg=reg,
               filters_per_layer=filters_per_layer, layers_per_block=layers_per_block, pool_every=pool_every,
               hidden_dims=hidden_dims, model_type=model_type, dataset=dataset, kw=kw)  # fmt: skip
    cfg["filters_per_layer"], cfg["hidden_dims"], cfg["out_dir"] = list(filters_per_layer), list(hidden_dims), str(out_dir)
    if seed is None:
        seed = random.randint(0, 2**31 - 1)
    cfg["seed"] = seed
    torch.manual_seed(seed)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model_type {model_type!r}; expected one of {sorted(MODEL_TYPES)}")

    # TODO: Train the configuration:
    #  - the datasets from image_classification(dataset); in_size is the shape
    #    (C, H, W) of one image and the number of classes len(ds_train.classes);
    #  - DataLoaders of bs_train (shuffled, with a torch.Generator seeded with
    #    seed) and bs_test samples;
    #  - the model MODEL_TYPES[model_type](in_size, num_classes, ...) with
    #    channels as the docstring says, pool_every, hidden_dims and **kw
    #    (YourCNN takes only in_size and num_classes);
    #  - nn.CrossEntropyLoss, torch.optim.Adam with lr and weight_decay=reg,
    #    and a ClassifierTrainer on device;
    #  - fit_res = trainer.fit(...) for epochs epochs, with checkpoints,
    #    early_stopping and max_batches=batches.
    ### BEGIN SOLUTION
    ds_train, ds_test = image_classification(dataset)
    in_size, num_classes = tuple(ds_train[0][0].shape), len(ds_train.classes)
    dl_train = DataLoader(ds_train, bs_train, shuffle=True, generator=torch.Generator().manual_seed(seed))
    dl_test = DataLoader(ds_test, bs_test or bs_train)
    if model_type == "yourcnn":
        model = YourCNN(in_size, num_classes)
    else:
        channels = [k for k in filters_per_layer for _ in range(layers_per_block)]
        model = MODEL_TYPES[model_type](in_size, num_classes, channels=channels, pool_every=pool_every,
                                        hidden_dims=list(hidden_dims), **kw)  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=reg)
    trainer = ClassifierTrainer(model, nn.CrossEntropyLoss(), optimizer, device)
    fit_res = trainer.fit(dl_train, dl_test, epochs, checkpoints=checkpoints, early_stopping=early_stopping,
                          max_batches=batches)  # fmt: skip
    ### END SOLUTION
    return save_experiment(run_name, out_dir, cfg, fit_res)


def save_experiment(run_name, out_dir, cfg, fit_res: FitResult) -> str:
    """Writes {"config": cfg, "results": fit_res} to the run's result file and returns its path."""
    path = Path(out_dir) / result_name(run_name, cfg["layers_per_block"], cfg["filters_per_layer"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")  # a run killed while writing leaves no half file behind
    partial.write_text(json.dumps({"config": cfg, "results": fit_res._asdict()}, indent=2))
    os.replace(partial, path)
    print(f"*** Results of {run_name} written to {path}")
    return str(path)


def load_experiment(path):
    """
    Reads a result file.

    Returns:
    - (config, fit_res): the run's configuration (a dict) and its FitResult.
    """
    with open(path) as f:
        saved = json.load(f)
    return saved["config"], FitResult(**saved["results"])


def plot_exp_results(pattern, results_dir="results", fig=None, legend_key="layers_per_block"):
    """
    Plots every result file of results_dir matching the glob pattern (e.g.
    "exp1_1_L*_K32.json") on one figure, labelled by a configuration key.

    Returns:
    - (fig, axes), as hw.plot.plot_fit.
    """
    from hw.plot import plot_fit

    paths = sorted(glob.glob(os.path.join(results_dir, pattern)))
    if not paths:
        raise FileNotFoundError(f"no result file matches {os.path.join(results_dir, pattern)}; run the experiment first")
    axes = None
    for path in paths:
        cfg, fit_res = load_experiment(path)
        fig, axes = plot_fit(fit_res, fig=fig, legend=f"{legend_key}={cfg[legend_key]}")
    fig.suptitle(pattern)
    return fig, axes


# -- the studies -------------------------------------------------------------------------


def full_gradient(model: nn.Module, loss_fn, data) -> list:
    """
    The gradient of f, the mean loss over every sample of data, with respect
    to each of model.parameters() (provided).

    Inputs:
    - data: an iterable of batches (X, y), e.g. a DataLoader without shuffling.

    Returns:
    - A list of tensors, one per parameter, of the parameters' shapes.
    """
    params = list(model.parameters())
    total = [torch.zeros_like(p) for p in params]
    num_samples = 0
    for X, y in data:
        # loss_fn is a mean over its batch: weighting it by the batch's size makes the sum a sum over samples.
        grads = torch.autograd.grad(loss_fn(model(X), y) * len(y), params)
        for acc, grad in zip(total, grads):
            acc += grad
        num_samples += len(y)
    return [g / num_samples for g in total]


def effective_smoothness(model: nn.Module, loss_fn, data, step) -> float:
    """
    The effective local smoothness of the loss at the model's parameters w in
    the direction of a step u:

        L(w; u) = ||grad f(w + u) - grad f(w)|| / ||u||

    where f is the mean loss over every sample of data (not one batch) and
    ||.|| is the Euclidean norm over all parameters together.

    Inputs:
    - model: its parameters are w; it is evaluated in the mode it is in.
    - loss_fn: loss_fn(scores, y), a mean over the batch.
    - data: the whole data set as batches (X, y), in a fixed order.
    - step: u, one tensor per parameter of model.parameters(), of the same
      shapes (e.g. the update of one minibatch SGD step, -lr * gradient).

    Returns:
    - L(w; u) as a float. The model's state_dict (its parameters and its
      BatchNorm statistics) is the same after the call as before it.
    """
    # TODO: Compute grad f(w) with full_gradient, move the parameters to
    #  w + u (in place, without building a graph), compute grad f(w + u),
    #  and return the ratio of the norms. Keep a copy of model.state_dict()
    #  before and load it back afterwards: training-mode passes update
    #  BatchNorm's running statistics.
    ### BEGIN SOLUTION
    saved = copy.deepcopy(model.state_dict())
    grad_w = full_gradient(model, loss_fn, data)
    with torch.no_grad():
        for p, u in zip(model.parameters(), step):
            p += u
    grad_w_u = full_gradient(model, loss_fn, data)
    model.load_state_dict(saved)
    difference = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(grad_w_u, grad_w)))
    step_norm = torch.sqrt(sum((u**2).sum() for u in step))
    smoothness = float(difference / step_norm)
    ### END SOLUTION
    return smoothness


def corrupt_labels(labels: torch.Tensor, fraction: float, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """
    Label noise: a copy of labels in which exactly round(fraction * N) labels,
    chosen at random, are replaced by a different class, drawn uniformly
    from the num_classes - 1 other classes. Python's round takes a half to
    the even integer: round(0.25 * 10) == 2, round(0.35 * 10) == 4.

    Inputs:
    - labels: int64 tensor (N,) of classes in [0, num_classes).
    - fraction: the fraction of labels to change, in [0, 1].
    - num_classes: the number of classes (at least 2).
    - generator: a torch.Generator, the only source of randomness: the same
      generator state gives the same result.

    Returns:
    - An int64 tensor (N,); labels itself is not changed.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    # TODO: Choose round(fraction * N) distinct positions with torch.randperm,
    #  and give each a class other than its own: add a random offset in
    #  [1, num_classes - 1] modulo num_classes (torch.randint, with generator).
    ### BEGIN SOLUTION
    noisy = labels.clone()
    num_changed = round(fraction * len(labels))
    changed = torch.randperm(len(labels), generator=generator)[:num_changed]
    offsets = torch.randint(1, num_classes, (num_changed,), generator=generator)
    noisy[changed] = (labels[changed] + offsets) % num_classes
    ### END SOLUTION
    return noisy


def confusion_matrix(model: nn.Module, data, num_classes: int, device=None) -> torch.Tensor:
    """
    The confusion matrix of a classifier on a data set.

    Inputs:
    - model: maps X (N, ...) to class scores (N, num_classes).
    - data: batches (X, y), e.g. a DataLoader.
    - num_classes: the number of classes C.
    - device: where to run the model (None: where it is).

    Returns:
    - An int64 tensor (C, C) whose entry [i, j] counts the samples of true
      class i predicted as class j (the predicted class is the highest score).
      The model is left in the mode it was in.
    """
    # TODO: In evaluation mode and without building a graph, predict every
    #  batch and add each (true, predicted) pair to the matrix (torch.bincount
    #  of true * C + predicted does it in one step); restore the mode.
    ### BEGIN SOLUTION
    matrix = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for X, y in data:
            if device is not None:
                X = X.to(device)
            predicted = model(X).argmax(dim=1).cpu()
            matrix += torch.bincount(y.long() * num_classes + predicted, minlength=num_classes * num_classes)
    model.train(was_training)
    matrix = matrix.view(num_classes, num_classes)
    ### END SOLUTION
    return matrix


# -- the command line --------------------------------------------------------------------


def parse_cli(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.experiments", description="CNN experiments")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run-exp", help="run one experiment configuration")
    run.set_defaults(handler=run_from_options)
    run.add_argument("--run-name", "-n", required=True, help="name of the run and of its result file")
    run.add_argument("--out-dir", "-o", default="results", help="folder of the result file")
    run.add_argument("--seed", "-s", type=int, default=None, help="random seed (default: a new one, saved)")
    run.add_argument("--device", "-d", default=None, help='"cpu", "cuda", ... (default: a GPU if there is one)')
    run.add_argument("--bs-train", type=int, default=128, help="training batch size")
    run.add_argument("--bs-test", type=int, default=None, help="test batch size (default: the training one)")
    run.add_argument("--batches", type=int, default=100, help="batches per epoch")
    run.add_argument("--epochs", type=int, default=100, help="maximal number of epochs")
    run.add_argument("--early-stopping", type=int, default=3, help="stop after this many epochs without improvement")
    run.add_argument("--checkpoints", default=None, help="checkpoint file name (without .pt)")
    run.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    run.add_argument("--reg", type=float, default=1e-3, help="L2 regularisation")
    run.add_argument("--filters-per-layer", "-K", type=int, nargs="+", required=True, help="K: widths, e.g. 32 64")
    run.add_argument("--layers-per-block", "-L", type=int, required=True, help="L: convolutions of each width")
    run.add_argument("--pool-every", "-P", type=int, required=True, help="P: convolutions between poolings")
    run.add_argument("--hidden-dims", "-H", type=int, nargs="+", required=True, help="hidden fully connected widths")
    run.add_argument("--model-type", "-M", choices=sorted(MODEL_TYPES), default="cnn", help="which model class")
    run.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or fashion_mnist")
    return parser.parse_args(argv)


def run_from_options(args):
    """run_experiment with the options of the run-exp command."""
    return run_experiment(
        run_name=args.run_name, out_dir=args.out_dir, seed=args.seed, device=args.device, bs_train=args.bs_train,
        bs_test=args.bs_test, batches=args.batches, epochs=args.epochs, early_stopping=args.early_stopping,
        checkpoints=args.checkpoints, lr=args.lr, reg=args.reg, filters_per_layer=args.filters_per_layer,
        layers_per_block=args.layers_per_block, pool_every=args.pool_every, hidden_dims=args.hidden_dims,
        model_type=args.model_type, dataset=args.dataset,
    )


def main(argv=None):
    args = parse_cli(argv)
    return args.handler(args)


def config_kwargs(cfg: dict) -> dict:
    """The keyword arguments of run_experiment that repeat the run of a saved configuration."""
    kwargs = {k: v for k, v in cfg.items() if k != "kw"}
    return kwargs | cfg.get("kw", {})


if __name__ == "__main__":
    main()
