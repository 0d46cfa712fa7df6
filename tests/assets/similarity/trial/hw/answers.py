"""
Written answers and chosen hyper-parameters.

Each question is a function that returns your answer as a Markdown string
(LaTeX between $...$ works). The notebooks display them with
``display_answer``; your course staff read and grade them by hand.
"""


def part1_q1():
    """
    Part 1, question 1: a Linear layer with in_features=1024 and
    out_features=512 is applied to a batch X of N=64 samples, giving Y.

    For the Jacobian dY/dX: (A) what is its shape? (B) is it sparse, and which
    elements are zero? (C) do we need to materialise it to compute dL/dX from
    dL/dY? If not, how is dL/dX computed?
    Then answer A-C again for the Jacobian dY/dW.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part1_q2():
    """
    Part 1, question 2: is back-propagation required in order to train neural
    networks with descent-based optimization? Why or why not?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()



# -- Part 2 -------------------------------------------------------------------


def part2_overfit_hp():
    """
    Part 2: hyper-parameters with which an MLP with three hidden layers of 128
    (ReLU) and VanillaSGD reach 100% training accuracy on 20 samples within 20
    epochs (batches of 10). The autograder checks them on the Shapes set.

    Returns:
    - dict(wstd=..., lr=..., reg=...): weight-initialisation scale, learning
      rate and L2 regularisation strength.
    """
    wstd, lr, reg = 0, 0, 0
    # TODO: Tweak the hyper-parameters until the model overfits the 20 samples,
    #  then delete the `raise` below.
    raise NotImplementedError()
    return dict(wstd=wstd, lr=lr, reg=reg)


def part2_optim_hp():
    """
    Part 2: hyper-parameters for comparing the optimizers: an MLP with five
    hidden layers of 128 trained for a few epochs. The autograder checks that
    each learning rate gets the model well above chance on the Shapes set.

    Returns:
    - dict(wstd=..., lr_vanilla=..., lr_momentum=..., lr_rmsprop=...,
      lr_adam=..., reg=...).
    """
    wstd, lr_vanilla, lr_momentum, lr_rmsprop, lr_adam, reg = 0, 0, 0, 0, 0, 0
    # TODO: Tweak the hyper-parameters to get the best test accuracy you can
    #  with each optimizer, then delete the `raise` below.
    raise NotImplementedError()
    return dict(wstd=wstd, lr_vanilla=lr_vanilla, lr_momentum=lr_momentum, lr_rmsprop=lr_rmsprop, lr_adam=lr_adam, reg=reg)


def part2_dropout_hp():
    """
    Part 2: hyper-parameters with which an MLP with one hidden layer of 400,
    trained with MomentumSGD on a small training set, clearly overfits without
    dropout (so that dropout has something to fix).

    Returns:
    - dict(wstd=..., lr=...).
    """
    wstd, lr = 0, 0
    # TODO: Tweak the hyper-parameters until the model without dropout overfits,
    #  then delete the `raise` below.
    raise NotImplementedError()
    return dict(wstd=wstd, lr=lr)


def part2_q1():
    """
    Part 2, question 1: regarding the graphs you got for the three dropout
    configurations:
    (A) Explain the graphs of no-dropout vs dropout. Do they match what you
    expected to see? If yes, explain why and give examples from the graphs; if
    not, explain what you think the problem is and what should change to fix it.
    (B) Compare the low-dropout setting to the high-dropout setting and explain
    based on your graphs.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part2_q2():
    """
    Part 2, question 2: when training a model with the cross-entropy loss, can
    the test loss increase for a few epochs while the test accuracy also
    increases? If so, explain how; if not, explain why not.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part2_q3():
    """
    Part 2, question 3:
    (A) Explain the difference between gradient descent and back-propagation.
    (B) Compare gradient descent (GD) and stochastic gradient descent (SGD) in detail.
    (C) Why is SGD used more often in deep learning? Give a few justifications.
    (D) To run GD on a dataset that does not fit in memory, a friend suggests
    splitting the data into disjoint batches, doing forward passes until the
    data is exhausted, then one backward pass on the sum of the losses.
    1. Would this produce a gradient equivalent to GD? Justify mathematically.
    2. With batches small enough to fit in memory you still run out of memory
    after some number of batches. What happened?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part2_q4():
    r"""
    Part 2, question 4 (automatic differentiation): let
    f = f_n o f_{n-1} o ... o f_1 with every f_i: R -> R cheap to evaluate
    and to differentiate (O(1) per query). Given f as a computational graph
    and a point x_0, you want grad f(x_0).
    (A) How can forward-mode AD compute it with less memory, keeping O(n)
    computation? What is the memory complexity?
    (B) The same for backward-mode AD.
    (C) Can these techniques be generalised to arbitrary computational graphs?
    (D) How can back-propagation in deep architectures (VGG, ResNet) benefit?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part3_q1():
    """
    Part 3, question 1: output sizes.

    (A) A convolution with kernel K, stride S and padding P maps an H x W
    input to H' x W'. Derive H' and explain the floor.
    (B) Give the output shape of Conv2d(3, 16, kernel_size=4, stride=2,
    padding=3) on a batch of shape (32, 3, 28, 28), and the number of its
    parameters.
    (C) Which padding keeps H' = H for a stride of 1 and an odd kernel K?
    Is there one for an even K?
    (D) Which stride and padding of a 5x5 convolution replace "5x5
    convolution with padding 2, then 2x2 max pooling" on a 32x32 input, so
    that the next layer receives the same shape?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part3_q2():
    """
    Part 3, question 2 (from the pooling experiment in the notebook): compare
    the network with max pooling and the one with strided convolutions, in
    test accuracy and in time per pass over the data. Explain the difference
    in time from the number of multiply-adds of each convolution, and
    speculate why one generalises better or worse than the other.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


# -- Part 4 -------------------------------------------------------------------


def part4_overfit_hp():
    """
    Part 4: hyper-parameters of torch.optim.SGD with which the notebook's
    small CNN (one 3x3 convolution of 32 channels, max pooling, a hidden
    layer of 100) reaches 100% training accuracy on one batch of 16 images
    within 25 steps. The autograder checks them on the Shapes set.

    Returns:
    - dict(lr=..., momentum=..., weight_decay=...): keyword arguments of torch.optim.SGD.
    """
    lr, momentum, weight_decay = 0, 0, 0
    # TODO: Tweak the hyper-parameters until the model overfits the batch,
    #  then delete the `raise` below.
    # lr=0.1 with momentum 0.9 reached 100% on the batch within 13-25 steps
    # for 100 of the 101 initial seeds I tried (no regularisation: we want to overfit).
    lr, momentum, weight_decay = 0.1, 0.9, 0.0
    return dict(lr=lr, momentum=momentum, weight_decay=weight_decay)


def part4_q1():
    """
    Part 4, question 1: a regular residual block of two 3x3 convolutions on
    256 channels (256 -> 256 -> 256) against a bottleneck block
    256 -1x1-> 64 -3x3-> 64 -1x1-> 256.

    (A) How many parameters does each have (biases included)?
    (B) How many multiply-adds does each compute on an input of 256 x H x W
    (ignore biases, activations and the sum)?
    (C) Compare their ability to combine the input spatially (within each
    feature map) and across feature maps.
    """
    return r"""
**A. Parameters.**
- Regular block: two 3x3 convolutions 256 -> 256, each with $3\cdot3\cdot256\cdot256 + 256 = 590{,}080$
  parameters, so $2 \cdot 590{,}080 = 1{,}180{,}160$ parameters.
- Bottleneck block: 1x1 256 -> 64: $256\cdot64 + 64 = 16{,}448$; 3x3 64 -> 64: $9\cdot64\cdot64 + 64 = 36{,}928$;
  1x1 64 -> 256: $64\cdot256 + 256 = 16{,}640$; in total $70{,}016$ parameters, about 17 times fewer.

**B. Multiply-adds** (same padding, so every convolution produces $H \times W$ outputs per channel; one
multiply-add per weight per output pixel):
- Regular: $2 \cdot (9\cdot256\cdot256) \cdot HW = 1{,}179{,}648\,HW$.
- Bottleneck: $(256\cdot64 + 9\cdot64\cdot64 + 64\cdot256)\,HW = (16{,}384 + 36{,}864 + 16{,}384)\,HW = 69{,}632\,HW$,
  again about 17 times fewer.

**C. Combining the input.**
- *Spatially:* the regular block has two 3x3 convolutions, so each output sees a 5x5 window of the input; the
  bottleneck has only one 3x3 convolution (the 1x1 ones do not look at neighbours), so it sees only a 3x3 window.
  The regular block mixes spatial information more.
- *Across feature maps:* both mix all channels in every convolution, and the bottleneck has even three layers of
  channel mixing (and three non-linearities) instead of two. But it squeezes the 256 input maps through only 64
  channels, so it can only pass on a rank-64 (compressed) combination of them, and its 3x3 spatial processing
  works on 64 channels only; the regular block keeps all 256 channels at full width throughout. The bottleneck
  trades some expressiveness per block for a much lower cost, which lets one stack many more blocks.
"""


def part4_q2():
    """
    Part 4, question 2: receptive fields.

    (A) How large is the receptive field (in input pixels, along one side)
    of one output pixel after three 3x3 convolutions of stride 1? After
    conv 3x3 -> max pool 2x2 -> conv 3x3 -> max pool 2x2 -> conv 3x3?
    (B) Name three ways to grow the receptive field quickly and what each
    costs or loses.
    """
    return r"""
**A.** Each 3x3 convolution of stride 1 adds 2 pixels to the receptive field: $1 \to 3 \to 5 \to 7$, so three of
them see a **7x7** window. With pooling, the growth of each later layer is multiplied by the product of the
strides before it (the "jump"): conv 3x3: $r = 3$ (jump 1); max pool 2x2: $r = 3 + 1\cdot1 = 4$, jump 2;
conv 3x3: $r = 4 + 2\cdot2 = 8$; max pool 2x2: $r = 8 + 1\cdot2 = 10$, jump 4; conv 3x3: $r = 10 + 2\cdot4 = 18$.
So one output pixel sees an **18x18** window of the input.

**B.** Three ways:
1. *Pooling or strided convolutions* (downsampling): every later layer's growth is multiplied by the stride. It
   costs spatial resolution: the exact position of details is lost, which hurts tasks that need precise locations
   (segmentation, detection of small objects); on the other hand it also lowers the computation.
2. *Dilated (atrous) convolutions*: a 3x3 kernel with dilation $d$ covers $(2d+1)^2$ pixels at the cost of 9
   weights, and the resolution is kept. It skips the pixels between its taps, so it can miss fine detail and
   produce "gridding" artefacts when dilations are stacked, and it keeps the full-resolution feature maps (memory
   and compute).
3. *Larger kernels* (e.g. 7x7 instead of 3x3): grows the receptive field per layer, but the parameters and
   multiply-adds grow with $k^2$, and one layer has fewer non-linearities than a stack of small kernels with the
   same receptive field. (Simply adding more layers also works, but slowly, linearly with depth, at the cost of
   compute and harder optimisation.)
"""


def part4_q3():
    """
    Part 4, question 3: for a binary classifier, describe a situation in
    which you would accept a higher false positive rate, and one in which
    you would accept a higher false negative rate. Explain why.
    """
    return r"""
**Accept more false positives** when missing a positive is much worse than a false alarm and a false alarm is
cheap to correct: e.g. a first screening test for a serious, treatable disease, or an airport security scanner
for weapons. A false positive only leads to a second, more careful check; a false negative can cost a life. So we
lower the threshold to raise the TPR, paying with a higher FPR.

**Accept more false negatives** when a false alarm is costly or harmful and a miss is cheap: e.g. a spam filter
(losing an important real e-mail in the spam folder is worse than letting a spam through), or a system that
automatically blocks customers' bank cards or convicts someone. Here we raise the threshold so that a positive
prediction is almost always right (low FPR, high precision), accepting that some positives slip through.
In both cases the choice follows the relative cost of the two kinds of mistakes (and how rare the positives are),
not just the accuracy.
"""


def part4_q4():
    """
    Part 4, question 4: a classifier screens a large population for a disease
    from cheap features; a positive prediction sends the person to a
    confirmatory test that is expensive and carries some risk, and an early
    diagnosis allows a cheap treatment. Would you still choose the ROC point
    closest to the ideal corner (as the notebook does)? How would you choose
    it (A) when the disease, if missed, soon shows harmless symptoms that
    lead to the diagnosis anyway, and (B) when, if missed, it is likely to
    be fatal?
    """
    return r"""
No, not necessarily. The point closest to (0, 1) weighs a unit of FPR and a unit of FNR (= 1 - TPR) equally, and
ignores both the costs of the two mistakes and the prevalence of the disease. In a large screened population,
where the disease is rare, even a small FPR means many people sent to an expensive, risky test, while the FNR
applies only to the few sick people. The operating point should minimise the expected cost,
$c_{FP}\cdot FPR\cdot(1-\pi) + c_{FN}\cdot(1-TPR)\cdot\pi$ ($\pi$ the prevalence), i.e. the point where the ROC
curve touches a line of slope $\frac{c_{FP}(1-\pi)}{c_{FN}\,\pi}$, or a point that meets a constraint such as
"FPR at most x".

**A. A missed case soon shows harmless symptoms and is diagnosed anyway:** a false negative costs little (the
person loses the benefit of an early, cheap treatment but is not harmed), while every false positive costs an
expensive and risky test. So choose a **high threshold**, a point with a low FPR (to the left of the "closest to
the corner" point), accepting a lower TPR.

**B. A missed case is likely to be fatal:** a false negative is far more costly than a false positive, so choose a
**low threshold**, a point with a very high TPR (e.g. TPR at least 0.98 or 0.99), accepting a higher FPR and more
confirmatory tests, as long as the number of confirmatory tests (and their risk) stays acceptable. It may also be
worth adding a cheaper second screening stage before the risky test to bring the false positives down.
"""


def display_answer(answer_fn):
    """
    Renders the Markdown returned by ``answer_fn`` in a notebook, or says
    that the question is still unanswered.
    """
    from IPython.display import Markdown, display

    try:
        text = answer_fn()
    except NotImplementedError:
        text = f"*`{answer_fn.__name__}` is not answered yet: edit it in `hw/answers.py`.*"
    display(Markdown(text))
