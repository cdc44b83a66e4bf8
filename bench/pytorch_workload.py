"""The PyTorch twin of a kiln bench workload: the same model, optimizer and batches.

`kiln bench --export DIR FILE` writes a workload: the experiment's model and training
config (workload.json) and the exact batches, in order, that kiln's bench trains on. This
script builds the equivalent torch.nn model, replays those batches with the same number of
warm-up and timed steps, and prints one JSON line like kiln's bench. Each step does what
kiln's does: zero the gradients, forward, loss, backward, clip, optimizer step, and read
the loss and the batch's accuracy back to the host.

    python bench/pytorch_workload.py DIR [--warmup 5] [--steps 30] [--threads 2] [--flush-denormal]

`cargo xtask bench --against-pytorch` runs it beside kiln, alternately. Needs torch only.

Two differences, neither of which changes the arithmetic: PyTorch's bidirectional layers
read a padded batch with the padding reversed in (kiln reverses each sequence within its own
length), and weights start from PyTorch's own initialisation.
"""

import argparse
import json
import os
import resource
import sys
import time

import torch
from torch import nn


def activation(name):
    return {
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(0.01),
        "sigmoid": nn.Sigmoid(),
        "tanh": nn.Tanh(),
        "gelu": nn.GELU(),
    }[name]


def dense_stack(sizes, act, dropout, batch_norm):
    """kiln's DenseBlock chain: linear, batch norm, activation, dropout."""
    layers = []
    for i, o in zip(sizes, sizes[1:]):
        layers.append(nn.Linear(i, o))
        if batch_norm:
            layers.append(nn.BatchNorm1d(o))
        layers += [activation(act), nn.Dropout(dropout)]
    return layers


class Mlp(nn.Module):
    def __init__(self, c, inputs, classes):
        super().__init__()
        sizes = [inputs] + c.get("hidden", [])
        body = dense_stack(sizes, c.get("activation", "relu"), c.get("dropout", 0.0), c.get("batch_norm", False))
        self.net = nn.Sequential(nn.Flatten(), *body, nn.Linear(sizes[-1], classes))

    def forward(self, x, lengths=None):
        return self.net(x)


class Cnn(nn.Module):
    def __init__(self, c, shape, classes):
        super().__init__()
        channels, h, w = shape
        act = c.get("activation", "relu")
        layers = []
        for b in c["blocks"]:
            k, s, p = b["kernel"], b.get("stride", 1), b.get("padding", 0)
            layers.append(nn.Conv2d(channels, b["channels"], k, stride=s, padding=p))
            if b.get("batch_norm", False):
                layers.append(nn.BatchNorm2d(b["channels"]))
            layers.append(activation(act))
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            if b.get("pool"):
                layers.append(nn.MaxPool2d(b["pool"]))
                h, w = h // b["pool"], w // b["pool"]
            layers.append(nn.Dropout(b.get("dropout", 0.0)))
            channels = b["channels"]
        sizes = [channels * h * w] + c.get("dense", [])
        head = dense_stack(sizes, act, c.get("dense_dropout", 0.0), c.get("dense_batch_norm", False))
        self.net = nn.Sequential(*layers, nn.Flatten(), *head, nn.Linear(sizes[-1], classes))

    def forward(self, x, lengths=None):
        return self.net(x)


class Block(nn.Module):
    """kiln's ResNet block: two 3x3 convolutions with batch norm; the shortcut a strided
    1x1 projection, or the input subsampled with zero channels added (option A)."""

    def __init__(self, cin, cout, stride, projection):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(cout)
        reshapes = stride != 1 or cin != cout
        self.projection = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if reshapes and projection else None
        )
        self.stride, self.pad = stride, (cout - cin if self.projection is None else 0)

    def forward(self, x):
        y = torch.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        if self.projection is not None:
            s = self.projection(x)
        else:
            s = x[:, :, :: self.stride, :: self.stride]
            if self.pad:
                s = nn.functional.pad(s, (0, 0, 0, 0, 0, self.pad))
        return torch.relu(y + s)


class ResNet(nn.Module):
    def __init__(self, c, shape, classes):
        super().__init__()
        width, n = c.get("width", 16), (c.get("depth", 20) - 2) // 6
        projection = c.get("shortcut", "identity") == "projection"
        self.stem = nn.Sequential(nn.Conv2d(shape[0], width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        blocks, cin = [], width
        for stage, cout in enumerate([width, 2 * width, 4 * width]):
            for b in range(n):
                blocks.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1, projection))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(4 * width, classes)

    def forward(self, x, lengths=None):
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def recurrent(cell, inputs, hidden, layers, dropout, bidirectional=False):
    kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
    extra = {"nonlinearity": "tanh"} if cell == "rnn" else {}
    return kind(inputs, hidden, num_layers=layers, bidirectional=bidirectional,
                dropout=dropout if layers > 1 else 0.0, batch_first=True, **extra)


class Recurrent(nn.Module):
    def __init__(self, cell, c, vocab, classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, c.get("embedding_dim", 128))
        self.embedding_dropout = nn.Dropout(c.get("embedding_dropout", 0.0))
        self.hidden = c.get("hidden", 128)
        self.bidirectional = c.get("bidirectional", False)
        self.rnn = recurrent(cell, c.get("embedding_dim", 128), self.hidden, c.get("layers", 1),
                             c.get("dropout", 0.0), self.bidirectional)
        self.pooling = c.get("pooling", "last")
        self.dropout = nn.Dropout(c.get("dropout", 0.0))
        sizes = [self.hidden * (2 if self.bidirectional else 1)] + c.get("head", [])
        head = dense_stack(sizes, c.get("head_activation", "relu"), c.get("dropout", 0.0), False)
        self.head = nn.Sequential(*head, nn.Linear(sizes[-1], classes))

    def forward(self, x, lengths):
        out, _ = self.rnn(self.embedding_dropout(self.embedding(x)))
        n, t, f = out.shape
        real = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)
        if self.pooling == "last":
            last = out[torch.arange(n), lengths - 1]
            if self.bidirectional:
                last = torch.cat([last[:, : self.hidden], out[:, 0, self.hidden:]], dim=1)
            pooled = last
        elif self.pooling == "mean":
            pooled = (out * real.unsqueeze(2)).sum(1) / lengths.unsqueeze(1)
        else:
            pooled = out.masked_fill(~real.unsqueeze(2), -1e9).max(1).values
        return self.head(self.dropout(pooled))


class LanguageModel(nn.Module):
    def __init__(self, c, vocab):
        super().__init__()
        emb, hidden = c.get("embedding_dim", 64), c.get("hidden", 128)
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = recurrent(c.get("cell", "lstm"), emb, hidden, c.get("layers", 2), c.get("dropout", 0.0))
        self.dropout = nn.Dropout(c.get("dropout", 0.0))
        self.projection = nn.Linear(hidden, vocab)

    def forward(self, x, lengths=None):
        out, _ = self.rnn(self.embedding(x))
        return self.projection(self.dropout(out))


def build(w, first):
    c = dict(w["model"])
    kind = c.pop("kind")
    if kind == "mlp":
        return Mlp(c, int(torch.tensor(first["x_shape"][1:]).prod()), w["outputs"])
    if kind == "cnn":
        return Cnn(c, first["x_shape"][1:], w["outputs"])
    if kind == "resnet":
        return ResNet(c, first["x_shape"][1:], w["outputs"])
    if kind in ("rnn", "lstm", "gru"):
        return Recurrent(kind, c, w["vocab"], w["outputs"])
    if kind == "language_model":
        return LanguageModel(c, w["vocab"])
    sys.exit(f"pytorch_workload: no PyTorch twin for a {kind} model")


def optimizer(train, params):
    o, lr, wd = train["optimizer"], train["learning_rate"], train.get("weight_decay", 0.0)
    name = o["name"]
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(params, lr=lr, betas=(o["beta1"], o["beta2"]), eps=o["epsilon"],
                   amsgrad=o["amsgrad"], weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o["momentum"], dampening=o["dampening"],
                               nesterov=o["nesterov"], weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=o["alpha"], eps=o["epsilon"],
                                   momentum=o["momentum"], centered=o["centered"], weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, lr_decay=o["lr_decay"], eps=o["epsilon"], weight_decay=wd)
    sys.exit(f"pytorch_workload: unknown optimizer {name}")


def load(folder, b):
    def array(name, shape, dtype):
        with open(os.path.join(folder, name), "rb") as f:
            return torch.frombuffer(bytearray(f.read()), dtype=dtype).reshape(shape)

    x = array(b["x"], b["x_shape"], torch.float32 if b["x_dtype"] == "f32" else torch.int64)
    y = array(b["y"], b["y_shape"], torch.int64)
    lengths = torch.tensor(b["lengths"]) if b.get("lengths") is not None else None
    return x, y, lengths, b["samples"]


def rss_mib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workload")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--flush-denormal", action="store_true",
                   help="torch.set_flush_denormal(True): subnormal floats become zero")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    flushed = torch.set_flush_denormal(True) if a.flush_denormal else False
    with open(os.path.join(a.workload, "workload.json")) as f:
        w = json.load(f)
    batches = [load(a.workload, b) for b in w["batches"]]
    model = build(w, w["batches"][0])
    model.train()
    opt = optimizer(w["train"], model.parameters())
    clip = w["train"].get("grad_clip")
    loss_fn = nn.CrossEntropyLoss()
    if w["train"].get("loss", "cross_entropy") != "cross_entropy":
        sys.exit("pytorch_workload: only the cross-entropy loss has a twin")
    ready = rss_mib("VmRSS:")
    timed, samples, steps, warm = 0.0, 0, 0, 0.0
    last = time.perf_counter()
    for i in range(a.warmup + a.steps):
        x, y, lengths, n = batches[i % len(batches)]
        opt.zero_grad()
        logits = model(x, lengths)
        if logits.dim() == 3:
            logits, target = logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
        else:
            target = y
        loss = loss_fn(logits, target)
        loss.backward()
        if clip and "norm" in clip:
            for q in model.parameters():
                torch.nn.utils.clip_grad_norm_([q], clip["norm"])
        elif clip and "value" in clip:
            torch.nn.utils.clip_grad_value_(model.parameters(), clip["value"])
        opt.step()
        loss.item()
        (logits.argmax(1) == target).sum().item()
        now = time.perf_counter()
        if i < a.warmup:
            warm += now - last
        else:
            timed += now - last
            samples += n
            steps += 1
        last = now
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "flush_denormal": bool(flushed),
        "experiment": w["experiment"],
        "steps": steps,
        "samples": samples,
        "seconds": timed,
        "samples_per_second": samples / timed,
        "warmup_seconds": warm,
        "ready_rss_mib": ready,
        "peak_rss_mib": rss_mib("VmHWM:"),
    }))


if __name__ == "__main__":
    main()
