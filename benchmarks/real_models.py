"""Three real models, written once in PyTorch's dialect, built on torch itself or on polygrad.

`build(name, T, nn, F, optim, device)` takes the library's namespaces (torch, torch.nn,
torch.nn.functional, torch.optim, or polygrad's), so native PyTorch and polygrad run the
very same source. Each returns a `step()`: one training step (forward, backward, optimizer),
on fixed random data.

    gpt    a GPT-style decoder LM: 4 pre-norm blocks, width 128, 4 heads, causal attention
           (scaled_dot_product_attention), exact GELU MLP, tied-free LM head; T=64, B=8,
           vocabulary 512; cross-entropy; AdamW (the nanoGPT configuration of issue 17).
    cnn    the pytorch/examples MNIST net: conv3x3 1-32, conv3x3 32-64, max pool 2, dropout,
           linear 9216-128, dropout, linear 128-10, log_softmax; nll_loss; B=64; Adadelta.
    lstm   the word_language_model LSTM LM: embedding 10000x200, 2-layer LSTM 200, dropout 0.2,
           decoder to 10000, log_softmax; bptt 35, B=20; nll_loss; clip_grad_norm 0.25; SGD by hand.
    gru    the same LM with the word_language_model's GRU in the LSTM's place.
    dcgan  the pytorch/examples DCGAN generator at 32x32: z (64) -> ConvTranspose2d 4x4 to 128 x 4x4, then
           three stride-2 ConvTranspose2d (128-64-32-3) with BatchNorm and ReLU, tanh; mean squared error
           to fixed images (the discriminator's place); B=64; Adam(2e-4, betas (0.5, 0.999)).
    avgcnn LeNet-5 with average pooling: conv5x5 1-16 (padding 2), relu, AvgPool2d 2, conv5x5 16-32, relu,
           AvgPool2d 2, linear 800-10; cross-entropy; B=64, 28x28; SGD with momentum 0.9.
    adamw-step, sgd-step, rmsprop-step   an optimizer step alone (no forward, no backward) over
           the GPT's 53 parameter tensors (0.9M numbers) with fixed gradients: AdamW as the GPT's;
           SGD with momentum 0.9, Nesterov and weight decay; RMSprop centered with momentum.
"""

import numpy as np

MODELS = ("gpt", "cnn", "lstm", "gru", "dcgan", "avgcnn", "adamw-step", "sgd-step", "rmsprop-step")


def build(name, T, nn, F, optim, device):
    rng = np.random.default_rng(0)

    def ints(high, shape):
        return T.tensor(rng.integers(0, high, shape), dtype=T.int64, device=device)

    if name.endswith("-step"):
        return _optimizer_step(name[:-len("-step")], T, optim, device, rng)
    return {"gpt": _gpt, "cnn": _cnn, "lstm": _lstm, "gru": _gru, "dcgan": _dcgan,
            "avgcnn": _avgcnn}[name](T, nn, F, optim, device, rng, ints)


def _gpt(T, nn, F, optim, device, rng, ints, vocab=512, length=64, batch=8, width=128, heads=4, layers=4):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
            self.gelu = nn.GELU()

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.qkv(self.norm1(x)).split(width, dim=2)
            q, k, v = (z.view(b, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).contiguous().view(b, t, c))
            return x + self.down(self.gelu(self.up(self.norm2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens, self.positions = nn.Embedding(vocab, width), nn.Embedding(length, width)
            self.blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, vocab, bias=False)

        def forward(self, idx):
            x = self.tokens(idx) + self.positions(T.arange(idx.shape[1], device=idx.device))
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x))

    model = GPT().to(device)
    opt = optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1)
    x, y = ints(vocab, (batch, length)), ints(vocab, (batch, length))

    def step():
        loss = F.cross_entropy(model(x).view(-1, vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def _cnn(T, nn, F, optim, device, rng, ints, batch=64):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
            self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
            self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
            x = F.relu(self.fc1(T.flatten(self.dropout1(x), 1)))
            return F.log_softmax(self.fc2(self.dropout2(x)), dim=1)

    model = Net().to(device)
    opt = optim.Adadelta(model.parameters(), lr=1.0)
    x = T.tensor(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32), device=device)
    y = ints(10, (batch,))

    def step():
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _lstm(T, nn, F, optim, device, rng, ints, tokens=10000, size=200, layers=2, bptt=35, batch=20, kind="LSTM"):
    class LanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.2)
            self.encoder = nn.Embedding(tokens, size)
            self.rnn = getattr(nn, kind)(size, size, layers, dropout=0.2)
            self.decoder = nn.Linear(size, tokens)

        def forward(self, x, hidden):
            out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
            return F.log_softmax(self.decoder(self.drop(out)).view(-1, tokens), dim=1), hidden

    model = LanguageModel().to(device)
    x, y = ints(tokens, (bptt, batch)), ints(tokens, (bptt * batch,))
    state = {"hidden": tuple(T.zeros(layers, batch, size, device=device) for _ in range(2 if kind == "LSTM" else 1))}

    def step():
        model.zero_grad()
        hidden = tuple(h.detach() for h in state["hidden"])
        out, hidden = model(x, hidden if kind == "LSTM" else hidden[0])
        hidden = hidden if kind == "LSTM" else (hidden,)
        state["hidden"] = hidden
        loss = F.nll_loss(out, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        with T.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-20.0)
        return loss

    return step


def _gru(T, nn, F, optim, device, rng, ints):
    return _lstm(T, nn, F, optim, device, rng, ints, kind="GRU")


def _dcgan(T, nn, F, optim, device, rng, ints, batch=64, latent=64, width=32):
    def up(cin, cout, stride, padding):
        return [nn.ConvTranspose2d(cin, cout, 4, stride, padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    model = nn.Sequential(*up(latent, width * 4, 1, 0), *up(width * 4, width * 2, 2, 1), *up(width * 2, width, 2, 1),
                          nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False), nn.Tanh()).to(device)
    opt = optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))
    z = T.tensor(rng.standard_normal((batch, latent, 1, 1)).astype(np.float32), device=device)
    images = T.tensor(np.tanh(rng.standard_normal((batch, 3, 32, 32))).astype(np.float32), device=device)

    def step():
        opt.zero_grad()
        loss = F.mse_loss(model(z), images)
        loss.backward()
        opt.step()
        return loss

    return step


def _avgcnn(T, nn, F, optim, device, rng, ints, batch=64):
    model = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(800, 10)).to(device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = T.tensor(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32), device=device)
    y = ints(10, (batch,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _gpt_shapes(vocab=512, length=64, width=128, layers=4):
    """The shapes of _gpt's parameters: embeddings, per block two layer norms and four linears, norm, head."""
    block = [(width,)] * 4 + [(3 * width, width), (3 * width,), (width, width), (width,),
                              (4 * width, width), (4 * width,), (width, 4 * width), (width,)]
    return [(vocab, width), (length, width)] + block * layers + [(width,), (width,), (vocab, width)]


OPTIMIZERS = {
    "adamw": lambda optim, params: optim.AdamW(params, lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1),
    "sgd": lambda optim, params: optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "rmsprop": lambda optim, params: optim.RMSprop(params, lr=1e-3, momentum=0.9, centered=True),
}


def _optimizer_step(name, T, optim, device, rng):
    params = []
    for shape in _gpt_shapes():
        p = T.tensor(rng.standard_normal(shape).astype(np.float32), device=device, requires_grad=True)
        p.grad = T.tensor(rng.standard_normal(shape).astype(np.float32) * 1e-2, device=device)
        params.append(p)
    opt = OPTIMIZERS[name](optim, params)

    def step():
        opt.step()
        return params[0]

    return step
