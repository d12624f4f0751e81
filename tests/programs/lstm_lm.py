"""A word-level LSTM language model trained the way pytorch/examples' word_language_model/main.py
trains one: batchify, get_batch over bptt windows, repackage_hidden between windows, clip_grad_norm_,
plain SGD through p.data.add_, perplexity. Usage: lstm_lm.py DATA.npz"""

import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

data_path = sys.argv[1]
ntokens, emsize, nhid, nlayers, bptt, batch_size, lr, clip = 13, 8, 12, 2, 5, 3, 2.0, 0.25
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class RNNModel(nn.Module):
    def __init__(self):
        super(RNNModel, self).__init__()
        self.encoder = nn.Embedding(ntokens, emsize)
        self.rnn = nn.LSTM(emsize, nhid, nlayers, dropout=0.0)
        self.decoder = nn.Linear(nhid, ntokens)

    def forward(self, input, hidden):
        output, hidden = self.rnn(self.encoder(input), hidden)
        decoded = self.decoder(output).view(-1, ntokens)
        return nn.functional.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(nlayers, bsz, nhid), weight.new_zeros(nlayers, bsz, nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous().to(device)


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)


corpus = np.load(data_path)
train_data = batchify(torch.from_numpy(corpus["train"]), batch_size)
val_data = batchify(torch.from_numpy(corpus["valid"]), 2)
model = RNNModel().to(device)
init = os.path.join(os.path.dirname(data_path), "lstm_init.npz")
if os.path.exists(init):
    model.load_state_dict({k: torch.tensor(v) for k, v in np.load(init).items()})
else:
    np.savez(init, **{k: v.detach().numpy() for k, v in model.state_dict().items()})
criterion = nn.NLLLoss()


def evaluate(data_source):
    model.eval()
    total_loss = 0.
    hidden = model.init_hidden(2)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


for epoch in range(1, 3):
    model.train()
    hidden = model.init_hidden(batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        data, targets = get_batch(train_data, i)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        print('| epoch {:3d} | batch {:3d} | loss {:5.4f} | ppl {:8.4f}'.format(epoch, batch, loss.item(),
                                                                                  math.exp(loss.item())))
    val_loss = evaluate(val_data)
    print('| end of epoch {:3d} | valid loss {:5.4f} | valid ppl {:8.4f}'.format(epoch, val_loss, math.exp(val_loss)))
