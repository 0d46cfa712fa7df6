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
    raise NotImplementedError()
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
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part4_q2():
    """
    Part 4, question 2: receptive fields.

    (A) How large is the receptive field (in input pixels, along one side)
    of one output pixel after three 3x3 convolutions of stride 1? After
    conv 3x3 -> max pool 2x2 -> conv 3x3 -> max pool 2x2 -> conv 3x3?
    (B) Name three ways to grow the receptive field quickly and what each
    costs or loses.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part4_q3():
    """
    Part 4, question 3: for a binary classifier, describe a situation in
    which you would accept a higher false positive rate, and one in which
    you would accept a higher false negative rate. Explain why.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


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
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()



# -- Part 5 -------------------------------------------------------------------


def part5_q1():
    """
    Part 5, question 1 (experiment 1.1): how did the depth L affect the
    accuracy, for each K? Which depth trained best? Were some networks not
    trainable at all; if so, why, and what two things could fix it?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part5_q2():
    """
    Part 5, question 2 (experiments 1.2 and 1.3): how did the width K affect
    the accuracy, for each L? Compare with experiment 1.1. What did
    widening the network as it gets deeper (1.3) do?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part5_q3():
    """
    Part 5, question 3 (experiment 1.4): how did the ResNets compare with
    the plain CNNs of experiments 1.1 and 1.3 at the same depth? Explain.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part5_q4():
    """
    Part 5, question 4 (studies 1 and 2): what did batch normalization and
    dropout do to the two networks' training and test curves? How does the
    effective smoothness explain what batch normalization did?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part5_q5():
    """
    Part 5, question 5 (study 3): how did the text CNN's accuracy change
    with the convolution's stride? Why? What does a strided convolution
    followed by a max over time lose, compared with stride 1?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part5_q6():
    """
    Part 5, question 6 (study 4): which coarse classes of CIFAR-100 (in fast
    mode: which digits) did the network confuse most, and why? How did the
    training and validation accuracy change with the fraction of noisy
    labels? Explain both curves.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part6_q1():
    """
    Part 6, question 1: what do the first layer's filters look like, and what
    do its feature maps respond to? How do the feature maps change from the
    first convolution to the last, and why?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part6_q2():
    """
    Part 6, question 2: compare saliency and guided backpropagation. What did
    the sanity check show for each method, and what does it say about guided
    backpropagation?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part6_q3():
    """
    Part 6, question 3: Grad-CAM equals ReLU(CAM) / Z for a GAP network; what
    do the maps of wrong predictions show; why are early-layer Grad-CAMs less
    useful?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


def part6_q4():
    """
    Part 6, question 4: when does NMS with one IoU threshold remove a correct
    box or keep a duplicate? On which images is a COCO detector likely to fail?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


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
