"""PyTorch's speed on the char-rnn tutorial model, for comparison with kiln's charlstm_shakespeare.

Two LSTM layers of 128 over a 64-wide embedding of tiny Shakespeare's 65 characters, batches
of 64 windows of 100, Adam, on the CPU with 2 threads; windows are cut from the real text
already in memory. Prints training characters per second over timed steps after a warm-up.

    pip install torch==2.9.0 numpy
    python bench/pytorch_char_lm.py ../shared/datasets/tinyshakespeare/input.txt
"""
import sys
import time

import torch
from torch import nn


class CharLM(nn.Module):
    def __init__(self, vocab, embedding=64, hidden=128, layers=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding)
        self.lstm = nn.LSTM(embedding, hidden, layers, batch_first=True)
        self.projection = nn.Linear(hidden, vocab)

    def forward(self, x):
        out, _ = self.lstm(self.embedding(x))
        return self.projection(out)


def main(path, batch=64, seq_len=100, warmup=5, steps=50):
    torch.set_num_threads(2)
    torch.manual_seed(0)
    text = open(path, encoding="utf-8").read()
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text[:200_000]], dtype=torch.long)
    model = CharLM(len(chars))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    starts = torch.randint(0, len(ids) - seq_len - 1, (warmup + steps, batch))
    timed = 0.0
    for step in range(warmup + steps):
        x = torch.stack([ids[s : s + seq_len] for s in starts[step]])
        y = torch.stack([ids[s + 1 : s + seq_len + 1] for s in starts[step]])
        begin = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model(x).reshape(-1, len(chars)), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        loss.item()
        if step >= warmup:
            timed += time.perf_counter() - begin
    print(f"PyTorch {torch.__version__}: {steps * batch * seq_len / timed:,.0f} characters/s")


if __name__ == "__main__":
    main(sys.argv[1])
