"""Workloads beyond polygrad/cli/bench.py's: the issue's small CNN step and the README's training step.

Like bench.Chain and bench.MLP, each has `polygrad(device)` (the Tensor API)
and `by_hand(device)` (the forward and backward written out on raw arrays; on
the numpy backend that is hand-written NumPy), and each step returns the loss,
then the gradients, so bench.check can compare every contender's first step
with the hand-written one before anything is timed. Both update their
parameters, so every later step works on new values, as training does.
"""

import math

from polygrad.cli import bench
from polygrad.core import engine
from polygrad import functional, nn, optim, zeros
from polygrad.nn import models
from polygrad.namespace import ops
from polygrad.random import Generator


def _init(gen, *shape, fan_in):
    return gen.randn(*shape, dtype="float32", std=(2 / fan_in) ** 0.5)


class SmallCNN:
    """conv3x3 1->16, relu, conv3x3 16->32, relu, flatten, linear to 10; cross-entropy; SGD. Images 8x8."""

    def __init__(self, batch=64, size=8, channels=(16, 32), classes=10, lr=0.01, seed=0):
        self.name = f"small CNN step (conv3x3 1-{channels[0]}-{channels[1]}, linear), batch {batch}"
        self.batch, self.size, self.lr = batch, size, lr
        gen = Generator(seed, backend="numpy")
        self.x = gen.randn(batch, 1, size, size, dtype="float32")
        self.labels = gen.randint(0, classes, (batch,))
        c1, c2 = channels
        self.params = [_init(gen, c1, 1, 3, 3, fan_in=9), zeros(c1, dtype="float32", backend="numpy"),
                       _init(gen, c2, c1, 3, 3, fan_in=9 * c1), zeros(c2, dtype="float32", backend="numpy"),
                       _init(gen, c2 * size * size, classes, fan_in=c2 * size * size),
                       zeros(classes, dtype="float32", backend="numpy")]

    def polygrad(self, device):
        x = bench._leaf(self.x, device, requires_grad=False)
        labels = bench._leaf(self.labels, device, requires_grad=False)
        params = [bench._leaf(p, device) for p in self.params]
        w1, b1, w2, b2, w3, b3 = params

        def step():
            h = ops.relu(functional.conv2d(x, w1, b1, padding=1))
            h = ops.relu(functional.conv2d(h, w2, b2, padding=1))
            logits = ops.reshape(h, (self.batch, -1)) @ w3 + b3
            loss = functional.cross_entropy(logits, labels)
            return bench.backward_and_sgd(loss, params, self.lr, engine.no_grad)

        return step

    def by_hand(self, device):
        """im2col on channels-last copies: each conv is one matmul forward and two backward."""
        xp = device.backend.xp
        x = xp.permute_dims(bench.raw_copy(self.x, device), (0, 2, 3, 1))  # N, H, W, C
        labels = bench.raw_copy(self.labels, device)
        params = [bench.raw_copy(p, device) for p in self.params]
        n, s = self.batch, self.size
        rows = xp.arange(n, device=device.native)

        def columns(h):
            """(N*H*W, C*9) windows of the zero-padded channels-last h, ordered (c, kh, kw) like the weights."""
            padded = xp.zeros((n, s + 2, s + 2, h.shape[3]), dtype=h.dtype, device=device.native)
            padded[:, 1:-1, 1:-1, :] = h
            taps = [padded[:, i:i + s, j:j + s, :] for i in range(3) for j in range(3)]
            return xp.reshape(xp.stack(taps, axis=-1), (n * s * s, -1))

        def unfold_grad(g, channels):
            """The adjoint of columns(): sums each tap's gradient back into the image."""
            g = xp.reshape(g, (n, s, s, channels, 9))
            padded = xp.zeros((n, s + 2, s + 2, channels), dtype=g.dtype, device=device.native)
            for k in range(9):
                i, j = divmod(k, 3)
                padded[:, i:i + s, j:j + s, :] += g[..., k]
            return padded[:, 1:-1, 1:-1, :]

        def step():
            w1, b1, w2, b2, w3, b3 = params
            c1, c2 = w1.shape[0], w2.shape[0]
            cols1 = columns(x)
            h1 = xp.maximum(cols1 @ xp.reshape(w1, (c1, -1)).T + b1, 0)  # (N*S*S, c1)
            cols2 = columns(xp.reshape(h1, (n, s, s, c1)))
            h2 = xp.maximum(cols2 @ xp.reshape(w2, (c2, -1)).T + b2, 0)
            flat = xp.reshape(xp.permute_dims(xp.reshape(h2, (n, s, s, c2)), (0, 3, 1, 2)), (n, -1))  # NCHW order
            logits = flat @ w3 + b3
            shifted = logits - xp.max(logits, axis=1, keepdims=True)
            e = xp.exp(shifted)
            total = xp.sum(e, axis=1, keepdims=True)
            loss = -xp.mean(shifted[rows, labels] - xp.log(total)[:, 0])
            g = e / total
            g[rows, labels] -= 1
            g /= n
            gw3, gb3 = flat.T @ g, xp.sum(g, axis=0)
            g = xp.reshape(xp.permute_dims(xp.reshape(g @ w3.T, (n, c2, s, s)), (0, 2, 3, 1)), (n * s * s, c2))
            g = xp.where(h2 > 0, g, 0)
            gw2, gb2 = xp.reshape(g.T @ cols2, w2.shape), xp.sum(g, axis=0)
            g = xp.reshape(unfold_grad(g @ xp.reshape(w2, (c2, -1)), c1), (n * s * s, c1))
            g = xp.where(h1 > 0, g, 0)
            gw1, gb1 = xp.reshape(g.T @ cols1, w1.shape), xp.sum(g, axis=0)
            grads = [gw1, gb1, gw2, gb2, gw3, gb3]
            for p, d in zip(params, grads, strict=True):
                p -= self.lr * d
            return [loss] + grads

        return step


class ReadmeStep:
    """`polygrad train`'s default: models.mlp (64-128-64-10) on 8x8 digits, Adam lr 3e-3, batch 32."""

    def __init__(self, batch=32, hidden=(128, 64), lr=3e-3, seed=0):
        self.name = f"README default training step (MLP 64-{'-'.join(map(str, hidden))}-10, Adam), batch {batch}"
        self.batch, self.hidden, self.lr, self.seed = batch, hidden, lr, seed
        gen = Generator(seed, backend="numpy")
        self.x = gen.rand(batch, 8, 8, dtype="float32")
        self.labels = gen.randint(0, 10, (batch,))
        sizes = (64, *hidden, 10)
        # models.mlp's layers hold weights (out, in); hand-written code uses the same arrays
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            self.params += [_init(gen, fan_out, fan_in, fan_in=fan_in),
                            zeros(fan_out, dtype="float32", backend="numpy")]

    def polygrad(self, device):
        model = models.mlp(64, 10, self.hidden, device=device, dtype="float32")
        params = list(model.parameters())
        with engine.no_grad():
            for p, value in zip(params, self.params, strict=True):
                p.copy_(value.to(device))
        x = bench._leaf(self.x, device, requires_grad=False)
        labels = bench._leaf(self.labels, device, requires_grad=False)
        optimizer = optim.Adam(params, lr=self.lr)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            optimizer.zero_grad()
            loss = loss_fn(model(x), labels)
            loss.backward()
            outputs = [loss] + [p.grad for p in params]
            optimizer.step()
            return outputs

        return step

    def by_hand(self, device):
        xp = device.backend.xp
        x = xp.reshape(bench.raw_copy(self.x, device), (self.batch, -1))
        labels = bench.raw_copy(self.labels, device)
        rows = xp.arange(self.batch, device=device.native)
        params = [bench.raw_copy(p, device) for p in self.params]
        moments = [[xp.zeros_like(p), xp.zeros_like(p)] for p in params]
        beta1, beta2, eps, t = 0.9, 0.999, 1e-8, [0]

        def step():
            inputs = [x]
            for i in range(0, len(params) - 2, 2):
                inputs.append(xp.maximum(inputs[-1] @ params[i].T + params[i + 1], 0))
            logits = inputs[-1] @ params[-2].T + params[-1]
            shifted = logits - xp.max(logits, axis=1, keepdims=True)
            e = xp.exp(shifted)
            total = xp.sum(e, axis=1, keepdims=True)
            loss = -xp.mean(shifted[rows, labels] - xp.log(total)[:, 0])
            g = e / total
            g[rows, labels] -= 1
            g /= self.batch
            grads = [None] * len(params)
            for i in range(len(params) - 2, -1, -2):
                h = inputs[i // 2]
                grads[i], grads[i + 1] = g.T @ h, xp.sum(g, axis=0)
                if i:
                    g = xp.where(h > 0, g @ params[i], 0)
            t[0] += 1
            step_size = self.lr / (1 - beta1 ** t[0])
            root_correction = math.sqrt(1 - beta2 ** t[0])
            for p, d, (m, v) in zip(params, grads, moments, strict=True):
                m *= beta1
                m += (1 - beta1) * d
                v *= beta2
                v += (1 - beta2) * d * d
                p -= step_size * m / (xp.sqrt(v) / root_correction + eps)
            return [loss] + grads

        return step
