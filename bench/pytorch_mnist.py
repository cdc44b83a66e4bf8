"""PyTorch reference for kiln's MNIST throughput: the same MLP and CNN, same batch sizes.

Trains one epoch of each model on full MNIST (54,000 digits, as kiln's 10 % validation split
leaves) and prints training samples/s. Run it beside `cargo xtask run` in the same session:

    python bench/pytorch_mnist.py ../shared/datasets/mnist
"""

import gzip
import sys
import time

import numpy as np
import torch
from torch import nn


def idx(path):
    data = gzip.open(path).read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10),
    )


def epoch(model, x, y, batch):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(x))
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        idx_ = order[i : i + batch]
        opt.zero_grad()
        loss = loss_fn(model(x[idx_]), y[idx_])
        loss.backward()
        opt.step()
    return len(x) / (time.perf_counter() - start)


def main():
    root = sys.argv[1]
    torch.manual_seed(42)
    images = idx(f"{root}/train-images-idx3-ubyte.gz")[:54000]
    labels = idx(f"{root}/train-labels-idx1-ubyte.gz")[:54000]
    x = torch.tensor((images / 255.0 - 0.1307) / 0.3081, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(labels, dtype=torch.long)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, model, batch in (("mlp", mlp(), 64), ("cnn", cnn(), 128)):
        sps = epoch(model, x, y, batch)
        print(f"{name}: batch {batch}: {sps:,.0f} samples/s, {54000 / sps:.1f} s per epoch")


if __name__ == "__main__":
    main()
