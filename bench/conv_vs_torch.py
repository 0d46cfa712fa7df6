"""
The solution's Part 3 layers against PyTorch on the CPU: forward + backward time, as a ratio.

    python bench/conv_vs_torch.py [--trials 15] [--threads N] [--loops]

Each trial times one forward + backward of hw.layers' layer and of torch's
(F.conv2d / F.max_pool2d / nn.BatchNorm2d with autograd: oneDNN or torch's
own CPU kernels), back to back, same inputs, float32, the same number of
threads. The printed ratio is the median over trials of ours / torch's, so a
burst of load from another process on this shared machine moves both times
of a trial together instead of one side only. ``--loops`` also times a
straightforward loop implementation of the convolution (loops over the
output pixels, each a vectorised sum over batch, channels and kernel) on
case (a), the kind of code a first version looks like.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from hw import layers

CONV_CASES = {  # name -> (x shape, w shape, stride, padding)
    "conv (a) x(100,3,31,31) w(25,3,3,3) s2 p1": ((100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    "conv (b) x(64,64,32,32) w(64,64,3,3) s1 p1": ((64, 64, 32, 32), (64, 64, 3, 3), 1, 1),
}
ACTIVATIONS = (64, 64, 32, 32)  # case (b)'s output, for pooling and batch norm
GOALS = {"conv (a)": 2.0, "conv (b)": 2.5, "maxpool": 2.0, "batchnorm": 2.0}


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ratio(ours, theirs, trials):
    """Median of ours/theirs over trials that time both back to back (after one warm-up each)."""
    ours(), theirs()
    ratios, our_times, their_times = [], [], []
    for _ in range(trials):
        a, b = seconds(ours), seconds(theirs)
        ratios.append(a / b)
        our_times.append(a)
        their_times.append(b)
    return statistics.median(ratios), min(our_times), min(their_times)


def torch_pass(fn, inputs, dout):
    """forward + backward of fn with autograd, gradients for every input."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]

    def run():
        for leaf in leaves:
            leaf.grad = None
        fn(*leaves).backward(dout)

    return run


def layer_pass(layer, x, dout):
    def run():
        layer.forward(x)
        layer.backward(dout)

    return run


def conv_loops(x, w, b, stride, padding):
    """Forward and backward by loops over the output pixels (vectorised over batch and channels)."""
    n, c, h, wd = x.shape
    d, _, k, _ = w.shape
    xpad = F.pad(x, (padding,) * 4)
    h_out, w_out = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    out = torch.empty(n, d, h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            window = xpad[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
            out[:, :, i, j] = window.reshape(n, -1) @ w.reshape(d, -1).T + b
    dout = torch.ones_like(out)
    dxpad, dw = torch.zeros_like(xpad), torch.zeros_like(w)
    for i in range(h_out):
        for j in range(w_out):
            rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
            dw += (dout[:, :, i, j].T @ xpad[:, :, rows, cols].reshape(n, -1)).view_as(w)
            dxpad[:, :, rows, cols] += (dout[:, :, i, j] @ w.reshape(d, -1)).view(n, c, k, k)
    return out, dxpad, dw, dout.sum(dim=(0, 2, 3))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--loops", action="store_true", help="also time the loop version on case (a)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, float32, median of {args.trials} trials")
    print(f"{'case':48} {'ours ms':>8} {'torch ms':>9} {'ratio':>6} {'goal':>5}")

    rows = []
    for name, (x_shape, w_shape, stride, padding) in CONV_CASES.items():
        x, w, b = torch.randn(x_shape), torch.randn(w_shape), torch.randn(w_shape[0])
        conv = layers.Conv2d(w_shape[1], w_shape[0], w_shape[2], stride=stride, padding=padding)
        conv.load_state_dict([w, b])
        dout = torch.randn(conv.output_shape(x.shape))
        ours = layer_pass(conv, x, dout)
        theirs = torch_pass(lambda x, w, b: F.conv2d(x, w, b, stride, padding), [x, w, b], dout)
        rows.append((name, *ratio(ours, theirs, args.trials)))
        if args.loops and name.startswith("conv (a)"):
            loops = lambda: conv_loops(x, w, b, stride, padding)  # noqa: E731
            rows.append(("conv (a), loops over output pixels", *ratio(loops, theirs, max(3, args.trials // 5))))

    x, dout = torch.randn(ACTIVATIONS), torch.randn(ACTIVATIONS)
    pool_dout = torch.randn(ACTIVATIONS[0], ACTIVATIONS[1], ACTIVATIONS[2] // 2, ACTIVATIONS[3] // 2)
    ours = layer_pass(layers.MaxPool2d(2), x, pool_dout)
    theirs = torch_pass(lambda x: F.max_pool2d(x, 2), [x], pool_dout)
    rows.append(("maxpool 2x2 on (64,64,32,32)", *ratio(ours, theirs, args.trials)))

    norm = torch.nn.BatchNorm2d(ACTIVATIONS[1])
    ours = layer_pass(layers.BatchNorm2d(ACTIVATIONS[1]), x, dout)
    theirs = torch_pass(norm, [x], dout)
    rows.append(("batchnorm (train) on (64,64,32,32)", *ratio(ours, theirs, args.trials)))

    for name, median, ours_s, theirs_s in rows:
        goal = next((f"{g:.1f}" for key, g in GOALS.items() if name.startswith(key) and "loops" not in name), "")
        print(f"{name:48} {ours_s * 1e3:8.1f} {theirs_s * 1e3:9.1f} {median:6.2f} {goal:>5}")


if __name__ == "__main__":
    main()
