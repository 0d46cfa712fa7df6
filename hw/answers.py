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
    ### BEGIN SOLUTION
    return r"""
**dY/dX.**
A. $Y$ is $(64, 512)$ and $X$ is $(64, 1024)$, so the Jacobian is $(64, 512, 64, 1024)$.

B. Yes. Output row $i$ depends only on input row $i$: $\partial Y_{i,j} / \partial X_{k,l} = W_{j,l}$ if $k = i$
and $0$ otherwise. Only the 64 diagonal blocks $k = i$ are non-zero, a fraction $1/64$ of the entries.

C. No. By the chain rule $\delta X = \delta Y \, W$, a $(64, 512) \times (512, 1024)$ product.

**dY/dW.**
A. $W$ is $(512, 1024)$, so the Jacobian is $(64, 512, 512, 1024)$.

B. Yes. $\partial Y_{i,j} / \partial W_{k,l} = X_{i,l}$ if $k = j$ and $0$ otherwise: output feature $j$ depends only
on row $j$ of $W$.

C. No. $\delta W = \delta Y^\top X$, a $(512, 64) \times (64, 1024)$ product.
"""
    ### END SOLUTION


def part1_q2():
    """
    Part 1, question 2: is back-propagation required in order to train neural
    networks with descent-based optimization? Why or why not?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
No. Descent methods need the gradient of the loss, not a particular way of computing it. It can be
estimated with finite differences (two forward passes per parameter), computed with forward-mode
automatic differentiation (one pass per parameter), or avoided altogether with zeroth-order methods.
Back-propagation (reverse-mode differentiation) is what makes training *practical*: it yields the
gradient with respect to all parameters at a cost of a small constant times one forward pass,
whereas the alternatives cost a forward pass per parameter, millions of passes for a modern network.
"""
    ### END SOLUTION



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
    ### BEGIN SOLUTION
    wstd, lr, reg = 0.15, 0.02, 0.0
    ### END SOLUTION
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
    ### BEGIN SOLUTION
    wstd, lr_vanilla, lr_momentum, lr_rmsprop, lr_adam, reg = 0.1, 0.03, 3e-3, 2e-4, 2e-4, 1e-3
    ### END SOLUTION
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
    ### BEGIN SOLUTION
    wstd, lr = 0.1, 0.005
    ### END SOLUTION
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
    ### BEGIN SOLUTION
    return r"""
**A.** Yes. Without dropout the network has far more parameters than the small training set needs, so it
memorises it: training accuracy climbs to about 100% and the training loss keeps falling, while the test
loss reaches its minimum after a few epochs and then *rises* as the model grows confident on its training
samples. That widening train/test gap is overfitting. With dropout the training accuracy rises more slowly
and stays lower (every step trains a random thinned sub-network, so no unit can rely on a specific other
unit), but the test loss stays lower and flatter and the test accuracy is as good or better: dropout
trades training fit for generalisation, as a regulariser should.

**B.** Low dropout ($p=0.4$) keeps most of the capacity: it still fits the training set well and
generalises best, with the smallest train/test gap among the models that learn. High dropout ($p=0.8$)
keeps only one unit in five per step; the gradient signal is very noisy and the effective network is
tiny, so the model *underfits*: both training and test accuracy stay low and the losses fall slowly.
Too little dropout overfits, too much underfits; $p$ is a capacity knob to tune on validation data.
"""
    ### END SOLUTION


def part2_q2():
    """
    Part 2, question 2: when training a model with the cross-entropy loss, can
    the test loss increase for a few epochs while the test accuracy also
    increases? If so, explain how; if not, explain why not.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
Yes. Accuracy only asks whether the correct class has the *highest* score; cross-entropy measures the
probability given to the correct class, $-\log \hat{y}_{y}$. The two can move apart. Suppose an epoch
turns a few borderline mistakes into borderline successes (correct class probability from 0.45 to 0.55
against one rival): accuracy rises, and their loss falls only a little. In the same epoch the model may
become confidently wrong on a few other samples (correct class probability from 0.2 to 0.01): they were
already misclassified, so accuracy does not change, but each adds $-\log 0.01 \approx 4.6$ to the
loss. The mean loss rises while accuracy rises. This is typical at the start of overfitting, when the
model sharpens its scores everywhere.
"""
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    return r"""
**A.** Gradient descent is an *optimisation algorithm*: repeat $\theta \leftarrow \theta - \eta \nabla_\theta L$.
Back-propagation is an *algorithm for computing* $\nabla_\theta L$ (reverse-mode differentiation through
the network by the chain rule). GD says what to do with the gradient, back-propagation how to get it.

**B.** GD computes the exact gradient of the empirical loss over all $N$ samples at every step: each
step costs a pass over the whole dataset, the path is smooth and deterministic, and it converges to the
nearest critical point. SGD uses a random mini-batch of $B \ll N$ samples: the gradient is an unbiased
but noisy estimate, each step costs $O(B)$, there are $N/B$ steps per epoch, and the noise means a
decreasing learning rate is needed for convergence.

**C.** (1) Cost: many cheap noisy steps make more progress per unit of compute than one exact step,
since the samples of a large dataset are redundant. (2) Memory: a mini-batch fits in memory, the whole
dataset does not. (3) The noise helps escape saddle points and sharp minima, and flat minima tend to
generalise better. (4) It works on streaming data and on datasets too large to revisit.

**D.1.** Yes, up to a constant. The loss is linear in the per-sample losses, and so is the gradient:
$\nabla_\theta \sum_{j} L_{B_j}(\theta) = \sum_j \nabla_\theta L_{B_j}(\theta)$, with disjoint batches that
cover the data. If each $L_{B_j}$ is a *sum* over its samples this is exactly the GD gradient of the
summed loss; with per-batch *means* one must weight batch $j$ by $|B_j|/N$ to get the gradient of the
mean loss (with equal batches it is the GD gradient times $N/B$, a rescaled learning rate).

**D.2.** The backward pass needs the intermediate activations of *every* forward pass, so autograd
keeps the computation graph of every batch alive until the single backward pass at the end. Memory
grows linearly with the number of batches, as if the whole dataset had been processed at once. The fix
is to call backward on each batch's loss right away (gradients accumulate in `.grad`) and free its graph.
"""
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    return r"""
**A.** Forward mode carries the pair $(v_i, \dot v_i)$ with $v_i = f_i(v_{i-1})$ and
$\dot v_i = f_i'(v_{i-1})\,\dot v_{i-1}$, starting from $(x_0, 1)$. Each pair depends only on the previous
one, so it can be overwritten: $O(n)$ time and $O(1)$ memory.

**B.** Reverse mode needs the $v_i$ in reverse order, and storing them all costs $O(n)$ memory. With
checkpointing, keep only every $k$-th value in the forward pass; in the backward pass, recompute each
segment of $k$ values from its checkpoint, back-propagate through it and discard it. With $k=\sqrt{n}$
memory is $O(\sqrt n)$ and time stays $O(n)$ (about two forward passes). Recursive checkpointing
brings memory to $O(\log n)$ at the cost of $O(n \log n)$ time. (Keeping only $x_0$ and recomputing
each $v_i$ from scratch would give $O(1)$ memory but $O(n^2)$ time.)

**C.** Partly. Forward mode on a general graph must hold the values on the current *cut* of the graph,
and needs one pass per input, so it is not $O(1)$ memory and not cheap for many inputs. Checkpointing
works on any graph: store the values at a set of cut vertices and recompute the subgraphs between them,
but the savings depend on the graph having narrow cuts (chains of layers do; densely connected graphs
do not).

**D.** Deep networks are long chains of blocks whose activations dominate training memory. Gradient
checkpointing (e.g. `torch.utils.checkpoint`) stores only block boundaries, such as the outputs of
ResNet's residual blocks or of VGG's stages, and recomputes the insides during backward: activation
memory falls from $O(L)$ to about $O(\sqrt{L})$ for roughly one extra forward pass, which allows deeper
networks or larger batches on the same GPU.
"""
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    return r"""
**A.** The padded input has $H + 2P$ rows; a window of $K$ rows fits at top rows $0, S, 2S, \dots$ as long as
the start is at most $H + 2P - K$. That gives $\lfloor (H + 2P - K) / S \rfloor + 1$ positions: the floor drops
the last rows when the stride does not divide $H + 2P - K$ evenly (they are never the top of a full window).

**B.** $H' = W' = \lfloor (28 + 6 - 4)/2 \rfloor + 1 = 16$, so the output is $(32, 16, 16, 16)$. Parameters:
$16 \cdot 3 \cdot 4 \cdot 4 = 768$ weights and $16$ biases, $784$ in all.

**C.** $P = (K - 1)/2$ ("same" padding): $H + K - 1 - K + 1 = H$. For even $K$, $H + 2P - K + 1 = H$ needs
$P = (K - 1)/2$, not an integer: symmetric padding cannot keep the size (one pads one side more).

**D.** Stride 2 and padding 2: $\lfloor (32 + 4 - 5)/2 \rfloor + 1 = 16$, the size after the padded
convolution (32) and the pooling (16). (Padding 1 also gives 16, but then the windows are not centred on the
pixels the pooled network sees.)
"""
    ### END SOLUTION


def part3_q2():
    """
    Part 3, question 2 (from the pooling experiment in the notebook): compare
    the network with max pooling and the one with strided convolutions, in
    test accuracy and in time per pass over the data. Explain the difference
    in time from the number of multiply-adds of each convolution, and
    speculate why one generalises better or worse than the other.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
In our run (Shapes, 4 epochs) the max-pooling network reached 65% test accuracy and the strided one
39%, while the strided one took about half the time per pass (0.8 s against 1.7 s, training and test).

**Time.** The cost of a convolution is proportional to the number of output pixels it computes,
times $C_{in} K^2 C_{out}$. With pooling, each convolution runs at full resolution (32x32, then 16x16)
and pooling then throws away three quarters of its outputs. With stride 2 the same convolutions
compute only the 16x16 and 8x8 outputs that are kept: a quarter of the multiply-adds, and no
pooling pass.

**Accuracy.** Max pooling looks at every position and keeps the strongest response in each 2x2
window, which makes the features tolerant to small shifts; the strided convolution samples one
position in four and can miss a feature that falls between samples (aliasing). It does learn its own
downsampling, which can be as good with more data or training. Pooling is a fixed non-linearity, so
it adds no parameters, and the pooled network sees four times more positions during training.
"""
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    lr, momentum, weight_decay = 0.03, 0.9, 0.0
    ### END SOLUTION
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
    ### BEGIN SOLUTION
    return r"""
**A.** A $K \times K$ convolution from $C_{in}$ to $C_{out}$ channels has $C_{out}(C_{in} K^2 + 1)$ parameters.
Regular block: $2 \cdot 256 \cdot (256 \cdot 9 + 1) = 1{,}180{,}160$. Bottleneck: $64 \cdot (256 + 1) + 64 \cdot
(64 \cdot 9 + 1) + 256 \cdot (64 + 1) = 16{,}448 + 36{,}928 + 16{,}640 = 70{,}016$, about 17 times fewer.

**B.** Each output pixel of each output channel costs $C_{in} K^2$ multiply-adds, and "same" padding keeps
$H \times W$. Regular: $2 \cdot 256 \cdot 256 \cdot 9 \cdot HW = 1{,}179{,}648\,HW$. Bottleneck:
$(256 \cdot 64 + 64 \cdot 64 \cdot 9 + 64 \cdot 256)\,HW = 69{,}632\,HW$, again about 17 times fewer.

**C.** Spatially, the regular block sees a $5 \times 5$ neighbourhood (two $3 \times 3$ convolutions) with all
256 channels at every step; the bottleneck sees only $3 \times 3$, and through 64 channels. Across feature
maps both mix every channel with every other (1x1 convolutions are exactly cross-channel mixing), but
the bottleneck must squeeze the information through 64 channels, a low-rank projection: cheaper, and
expressive enough when the 256 channels are redundant, which is why it is used deep in large networks.
"""
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    return r"""
**A.** A layer of kernel $K$ adds $(K - 1)\,j$ pixels, where $j$ is the product of the strides before it
(the distance in input pixels between two neighbouring positions of its input). Three 3x3 convolutions
of stride 1: $1 + 2 + 2 + 2 = 7$. With pooling: conv ($3$, $j = 1$), pool ($3 + 1 = 4$, then $j = 2$),
conv ($4 + 2 \cdot 2 = 8$), pool ($8 + 1 \cdot 2 = 10$, then $j = 4$), conv ($10 + 2 \cdot 4 = 18$).

**B.** *Pooling or strided convolutions*: the receptive field grows by a factor of the stride per layer, at the
price of spatial resolution (fine positions are lost, which matters for localisation). *Dilated
convolutions*: a $3 \times 3$ kernel with dilation $d$ covers $2d + 1$ pixels at the cost of nine weights,
without losing resolution, but it samples the input sparsely (gridding artefacts). *Larger kernels*:
a $K \times K$ kernel adds $K - 1$ at once but costs $K^2$ weights and multiply-adds per position; stacking
small kernels reaches the same size with fewer parameters and more non-linearities.
"""
    ### END SOLUTION


def part4_q3():
    """
    Part 4, question 3: for a binary classifier, describe a situation in
    which you would accept a higher false positive rate, and one in which
    you would accept a higher false negative rate. Explain why.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
**Higher false positive rate:** when a miss is expensive and a false alarm is cheap. Screening blood
donations for an infection: a false positive discards one good donation (and a confirmatory test clears
the donor), a false negative infects a patient. Lower the threshold.

**Higher false negative rate:** when a false alarm is expensive and a miss is cheap or caught later. A
spam filter that deletes mail: a false positive loses an important message, a false negative leaves one
spam message in the inbox. Raise the threshold.
"""
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    return r"""
Not necessarily: the point closest to $(0, 1)$ weighs a false positive and a false negative equally, which
neither scenario does. One should pick the threshold minimising the expected cost
$c_{FP} \cdot FPR \cdot (1 - p) + c_{FN} \cdot FNR \cdot p$, with $p$ the prevalence.

**A.** A miss costs little (the symptoms reveal it soon, the treatment is cheap) while every false positive
costs an expensive and risky test. Choose a high threshold: a point with a low false positive rate,
accepting a lower true positive rate.

**B.** A miss is likely fatal, so false negatives dominate the cost. Choose a low threshold: a point with a
high true positive rate (close to 1), accepting more false positives and confirmatory tests. With a rare
disease, even a small false positive rate sends many healthy people to the test, so the test's risk
bounds how far one can go.
"""
    ### END SOLUTION



# -- Part 5 -------------------------------------------------------------------


def part5_q1():
    """
    Part 5, question 1 (experiment 1.1): how did the depth L affect the
    accuracy, for each K? Which depth trained best? Were some networks not
    trainable at all; if so, why, and what two things could fix it?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
**Fast mode** (three short epochs on Shapes): for K = 16, L = 1 reached 53% test accuracy and L = 4 44%, after a
slower start (22% and 25% after the first two epochs); L = 8 did not train at all: its training and test accuracy
stayed at chance (16-18% for 6 classes) in every epoch. K = 32 behaved the same way: 50%, 40% and 17% for
L = 1, 4 and 8. Depth, not width, decided: L = 1 trained best for both K. **On CIFAR-10** the same pattern appears at larger
depths: a moderate depth (L = 2 or 4) does best, deeper plain networks start slower and end lower, and the
deepest ones stay at chance (10%).

The reason is the vanishing gradient of a deep plain stack: the gradient that reaches the early layers is a
product of many Jacobians and shrinks (or, with a poor initialisation, explodes) with every layer, so the first
layers barely move and the later ones learn from features that do not change. Two fixes: **batch
normalisation** after each convolution (keeps every layer's activations, and so its gradients, at a sane
scale), and **residual connections** (a shortcut gives the gradient a path of identity Jacobians around every
block), which experiment 1.4 tries: the residual network of the same depth L = 8 reached 99%.
"""
    ### END SOLUTION


def part5_q2():
    """
    Part 5, question 2 (experiments 1.2 and 1.3): how did the width K affect
    the accuracy, for each L? Compare with experiment 1.1. What did
    widening the network as it gets deeper (1.3) do?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
**1.2.** In fast mode, doubling the width from K = 16 to 32 changed little at either depth: at L = 1, K = 32
started faster (32% against 23% after the first epoch) and ended slightly lower (50% against 53%); at L = 4 it
ended at 40% against 44%. Three short epochs do not use the extra capacity, and a difference of three or four
points is within what another seed would give. Compared with 1.1, depth moved the result far more than width:
going from L = 1 to L = 8 made the network untrainable, while doubling K cost or gained a few points. On CIFAR-10, more filters help
with diminishing returns (wider networks learn faster per epoch and overfit sooner), and no width rescues a
plain network that is too deep: width adds capacity without lengthening the gradient's path.

**1.3.** Widening as the network deepens (K = [16, 32], L = 1: two convolutions, the second one wider) gave the
best plain network of the fast grids, 71%, because the later layer, at a lower resolution, gets more channels
to describe more abstract features. With L = 2 (four convolutions) it fell to 33%, with the slow start of 1.1's
deeper networks: the depth problem came back.
"""
    ### END SOLUTION


def part5_q3():
    """
    Part 5, question 3 (experiment 1.4): how did the ResNets compare with
    the plain CNNs of experiments 1.1 and 1.3 at the same depth? Explain.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
In fast mode the residual network with K = [16] and L = 8 reached 99% test accuracy (38%, 86%, 99% training
accuracy over the three epochs) where the plain CNN of the same depth in 1.1 stayed at chance (16%). Each block
only has to learn a correction $F(x)$ to its input; the shortcut carries the signal forward and the gradient
backward without attenuation, and batch normalisation keeps each block's output scale stable, so depth adds
capacity instead of blocking training. At a small depth the shortcut brings nothing to rescue: the residual
K = [16, 32], L = 1 (59%) did not beat the plain network of 1.3 (71%) in three epochs. On CIFAR-10 the residual
networks train at every depth of the grid, including those where plain CNNs stay at chance, and their accuracy
improves little beyond L = 8 in the same training time (deeper ones need more epochs); K = [64, 128, 256]
beats K = [32]: width and depth combine once depth is trainable.
"""
    ### END SOLUTION


def part5_q4():
    """
    Part 5, question 4 (studies 1 and 2): what did batch normalization and
    dropout do to the two networks' training and test curves? How does the
    effective smoothness explain what batch normalization did?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
**Study 1.** Batch normalisation made both networks train far faster: in fast mode VGGNet went from 41% to 97%
test accuracy after three epochs, and NiNNet, at chance (16.5%) without it, reached 41%. Dropout slowed
training: 29% for VGGNet alone, and 60% instead of 97% with batch normalisation; NiNNet stayed at chance.
Dropout fights overfitting, a gap between training and test accuracy that three short epochs have not opened
yet: it costs accuracy early and helps in the long trainings of the real data, where a network fits its
training set and the gap appears.

**Study 2.** In fast mode the plain network first sat on a plateau (training loss 2.30 to 2.15 over four passes)
where the loss is flat and $L(w; u)$ small (1.1 to 2.2): it had hardly moved. Once it learned (passes 5 to
12, loss 2.0 to 0.35), $L(w; u)$ rose to 11-31 and stayed near 19. The batch-normalised network learned at once
(loss 0.80 after the first pass, 0.02 at the end) and after its first pass (12) kept $L(w; u)$ at 2-4, five to
ten times smaller than the plain network's while both were learning. The loss is smoother along the steps SGD
actually takes: the gradient at $w$ still describes the loss at $w + u$, so the same learning rate makes more
progress per step and is less likely to overshoot. This is the explanation of Santurkar et al.: batch
normalisation helps less by reducing "internal covariate shift" than by making the optimisation landscape
smoother.
"""
    ### END SOLUTION


def part5_q5():
    """
    Part 5, question 5 (study 3): how did the text CNN's accuracy change
    with the convolution's stride? Why? What does a strided convolution
    followed by a max over time lose, compared with stride 1?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
Accuracy fell as the stride grew: stride 1 and 2 were close, 4 was clearly worse, 8 (larger than the kernel
of 3, so some words are never seen by any window) the worst. A filter detects an n-gram ("how many",
"stand for") wherever it is, and the max over time keeps the strongest match anywhere in the question: with
stride 1 every position is tried, so detection does not depend on where the phrase starts. With stride
$s$, only one start position in $s$ is tried, so an n-gram is seen whole only if it happens to be aligned,
and the answer depends on word positions that carry no meaning. The stride saves computation
($T' \approx T / s$ windows) but trades away this translation invariance, which the max over time was meant to
provide; pooling after a stride-1 convolution would reduce the length without that loss.
"""
    ### END SOLUTION


def part5_q6():
    """
    Part 5, question 6 (study 4): which coarse classes of CIFAR-100 (in fast
    mode: which digits) did the network confuse most, and why? How did the
    training and validation accuracy change with the fraction of noisy
    labels? Explain both curves.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
**Confusions.** In fast mode (handwritten digits, 94% validation accuracy) the 8 was recognised worst (80%),
read as a 1 three times and as a 7 or a 9 twice each; a 3 was read as a 9 three times, and a 4 (90%) as a 1
twice. These digits share strokes: an 8 written narrow is a vertical stroke like a 1, a 3 and a 9 share the
upper curve and the right-hand side, and at 8x8 pixels (enlarged) the loop that tells them apart is one or two
pixels. On CIFAR-100 the largest confusions are between superclasses that look alike at 32x32 pixels although
the grouping is by meaning: the animal superclasses with each other (large carnivores, medium mammals, large
omnivores and herbivores, small mammals: furry brown shapes on grass), insects with non-insect invertebrates,
and the two vehicle superclasses (a bus and a streetcar).

**Label noise.** In fast mode the validation accuracy (on clean labels) went from 94% with clean labels to 89%,
76%, 70% and 31% with 20%, 40%, 60% and 80% of the labels replaced: slowly at first, because the wrong labels are
spread over the 9 other classes and the true one stays the most frequent label of each digit (20% of the labels
against 8.9% for each other class, even at 80% noise), so the network still learns the majority label; faster
when the true label barely dominates. The training accuracy, measured on the noisy labels, fell faster: 98%, 77%,
57%, 33%, 13%, close to or below $1 - \text{fraction}$: the network predicts the true class and so "misses"
the replaced labels, because in three epochs it memorises few of them. With long training a large network
would fit the noisy labels too (the training accuracy rising towards 100%) while its validation accuracy falls:
memorising noise is the overfitting that early stopping on a clean validation set prevents.
"""
    ### END SOLUTION


def part6_q1():
    """
    Part 6, question 1: what do the first layer's filters look like, and what
    do its feature maps respond to? How do the feature maps change from the
    first convolution to the last, and why?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
**Filters.** The first layer's 3x3 filters are small oriented edge and colour detectors: a bright centre against a
dark surround, a light-to-dark transition along one direction, or a single colour channel against the others.
**First feature maps.** They are the image filtered by those detectors, at full resolution: some channels light up
on the object's edges in one orientation, others on a colour (the shape against the background), others on the
noisy background's texture. They still look like the image.

**Deeper.** Each pooling halves the size (32x32, 16x16, 8x8) while the number of channels grows (16 or 32 to 64
or 128), and the maps become coarse, sparse blobs: a channel fires on a part or a whole object (a corner, a round
outline) wherever it is, and stays dark elsewhere. The reason is composition: each layer combines the previous
layer's features over a 3x3 window, and with pooling its receptive field grows (3, 8, 18 pixels), so deep units
respond to larger, more abstract patterns that matter for the class, and lose the exact position, which
classification does not need.
"""
    ### END SOLUTION


def part6_q2():
    """
    Part 6, question 2: compare saliency and guided backpropagation. What did
    the sanity check show for each method, and what does it say about guided
    backpropagation?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
Saliency maps are noisy and speckled: the raw gradient is large on scattered pixels, with the object only roughly
outlined. Guided backpropagation is much sharper and looks like an edge drawing of the object: zeroing every
negative gradient at every ReLU keeps only the paths that increase the activations, and those follow the image's
strong edges.

In the sanity check, with random weights the Grad-CAM maps changed completely (correlation with the trained
network's maps about 0 on both data sets) and the saliency maps a lot (about 0.1 on CIFAR-10, 0.2 on Shapes), while
guided backpropagation changed least (about 0.2 on CIFAR-10, 0.5 on Shapes): with random weights it still draws
the object's edges. (The image itself gives 1.) So much of what guided
backpropagation shows comes from the image and from the ReLU masking, not from what the network learned: it
acts partly as an edge detector, which is the finding of Adebayo et al. A sharp, pleasing map is not evidence
that it explains the model; a method has to pass such a randomisation test first.
"""
    ### END SOLUTION


def part6_q3():
    """
    Part 6, question 3: Grad-CAM equals ReLU(CAM) / Z for a GAP network; what
    do the maps of wrong predictions show; why are early-layer Grad-CAMs less
    useful?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
**A.** In a GAP network, $y_c = \sum_k w_{ck} \frac{1}{Z} \sum_{i,j} A_k(i, j) + b_c$, so
$\partial y_c / \partial A_k(i, j) = w_{ck} / Z$ at every position. Grad-CAM's weight is the mean of that gradient
over the positions: $\alpha_k = w_{ck} / Z$. Then Grad-CAM $= \mathrm{ReLU}(\sum_k \alpha_k A_k) =
\mathrm{ReLU}(\frac{1}{Z} \sum_k w_{ck} A_k) = \mathrm{ReLU}(\mathrm{CAM}_c) / Z$ since $Z > 0$. (The bias has no
gradient with respect to $A$; the notebook's two maps differ only by this scale and the ReLU.)

**B.** For the wrong predictions the maps of the predicted class often sit on the background or on a part of the
object that resembles the predicted class (a corner of a square read as a triangle's tip, sky or water behind an
animal read as a plane or a ship). That shows *why* the network erred: it relied on context or on a misleading
part, a spurious correlation in the training data that more data, augmentation or a different crop could fix.

**C.** At an early layer the feature maps are high-resolution but encode low-level features (edges, colours),
which appear on every object and the background alike; the gradient of the class score there mixes many paths
through the rest of the network, so the map shows where edges are, not what makes the image this class.
The last convolutional layer is where features are class-specific while still having a spatial layout, the
compromise Grad-CAM is designed for.
"""
    ### END SOLUTION


def part6_q4():
    """
    Part 6, question 4: when does NMS with one IoU threshold remove a correct
    box or keep a duplicate? On which images is a COCO detector likely to fail?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
**A.** (1) *Crowds and overlapping objects*: two objects of one class whose boxes overlap by more than the
threshold, such as people one behind the other. In fast mode the two squares' boxes overlap with an IoU of
0.65: NMS at 0.5 kept one box for the two squares, and the second, correct box was removed. (2) *Poorly
localised duplicates*: two boxes on the same object that overlap each other by less than the threshold (one on
part of the object, one on all of it; an elongated object) both survive. In fast mode each single shape kept
two of its 15 boxes. A low threshold suppresses more (fewer duplicates, more missed neighbours); a high one
keeps more (fewer misses, more duplicates). NMS also trusts the score: the box kept is the most confident, not
necessarily the best placed (soft-NMS and learned NMS address these).

**B.** (1) Images unlike COCO's photographs: drawings, synthetic images such as the Shapes, medical or aerial
images, unusual viewpoints, where the learned features do not apply and the detector misses objects or
hallucinates familiar ones; classes that are not among COCO's 80 (a "ring" or a "frame") can only be missed or
labelled as the most similar class. (2) Very small or heavily occluded objects: this detector resizes images to
320 pixels, so a 32x32 image is blown up from a few pixels, and a small object in a large photograph covers a
few feature-map cells: its evidence is lost. The Shapes images are both at once: a COCO detector would find
little or nothing there.
"""
    ### END SOLUTION


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
