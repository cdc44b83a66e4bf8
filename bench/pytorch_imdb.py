"""PyTorch reference for kiln's IMDB throughput and tokenising speed.

Times training steps of the two shapes the issue names, on batches of 64 reviews cut or padded
to 200 tokens (every batch full width, as without bucketing):
  - lstm128:  embedding 128 (20k vocabulary), one LSTM layer of 128, last state, linear to 2;
  - bilstm256: the PyTorch sentiment tutorial's model: embedding 100, 2-layer bidirectional
    LSTM of 256, dropout 0.5, linear to 2.
Adam 1e-3, cross-entropy. Prints training samples/s. With an aclImdb archive as argument it
also times a plain Python tokenizer over all reviews. Run it beside kiln in the same session:

    python bench/pytorch_imdb.py [../shared/datasets/aclImdb_v1.tar.gz]
"""

import re
import sys
import tarfile
import time

import torch
from torch import nn

torch.manual_seed(0)
torch.set_num_threads(2)


class Classifier(nn.Module):
    def __init__(self, vocab, emb, hidden, layers, bidirectional, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        self.rnn = nn.LSTM(
            emb,
            hidden,
            num_layers=layers,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), 2)
        self.bidirectional = bidirectional

    def forward(self, x):
        _, (h, _) = self.rnn(self.embedding(x))
        h = torch.cat([h[-2], h[-1]], dim=1) if self.bidirectional else h[-1]
        return self.fc(self.dropout(h))


def time_steps(model, steps, batch=64, length=200, vocab=20000):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randint(4, vocab, (batch, length))
    y = torch.randint(0, 2, (batch,))
    model.train()
    for i in range(steps + 2):
        if i == 2:  # two warm-up steps
            start = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


def tokenise(archive):
    start = time.perf_counter()
    texts = []
    with tarfile.open(archive) as tar:
        for m in tar:
            if m.isfile() and re.match(r"aclImdb/(train|test)/(pos|neg)/", m.name):
                texts.append(tar.extractfile(m).read().decode("utf-8"))
    read = time.perf_counter() - start
    word = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
    tokens = 0
    for t in texts:
        tokens += len(word.findall(t.replace("<br />", " ").lower()))
    print(
        f"python: read {len(texts)} reviews in {read:.2f} s, tokenised {tokens} tokens in "
        f"{time.perf_counter() - start - read:.2f} s"
    )


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    sps = time_steps(Classifier(20000, 128, 128, 1, False, 0.0), steps=60)
    print(f"lstm128 (emb 128, LSTM 128, len 200, batch 64): {sps:.0f} samples/s, {25000 / sps:.0f} s per 25k epoch")
    sps = time_steps(Classifier(20000, 100, 256, 2, True, 0.5), steps=8)
    print(f"bilstm256 (emb 100, 2x BiLSTM 256, len 200, batch 64): {sps:.1f} samples/s, {25000 / sps / 60:.1f} min per 25k epoch")
    if len(sys.argv) > 1:
        tokenise(sys.argv[1])
