#!/usr/bin/env python3
"""Reference scores for kiln's own-data experiments, from scikit-learn on the same split.

    python3 bench/reference_sklearn.py letters datasets/letters/letters.csv
    python3 bench/reference_sklearn.py bikeshare datasets/bikeshare/bikeshare.csv
    python3 bench/reference_sklearn.py spam datasets/spam/emails.csv
    python3 bench/reference_sklearn.py images datasets/clipart
    python3 bench/reference_sklearn.py digit_values ../shared/datasets/mnist
    python3 bench/reference_sklearn.py yeast datasets/yeast/yeast.csv

Each writes `train.csv` and `test.csv` beside the input (a seeded 80/20 split, stratified
for classification), fits scikit-learn models on train.csv and prints their test scores as
JSON. Train kiln on the very same files with
    cargo xtask run experiments/X.toml --set data.path=\"DIR/train.csv\" --set data.test=\"DIR/test.csv\"
For an image folder it writes `FOLDER_split/train/<class>/` and `FOLDER_split/test/<class>/`
(links to the images), and fits on 32x32 RGB pixels prepared as kiln's `fit = "pad"` does
(transparency on white, the longer side scaled to 32, padded with 0); train kiln with
    --set data.path=\"FOLDER_split\"
`digit_values` writes MNIST's first 20,000 training and its 10,000 test digits as PNG files
under `datasets/mnist_values/{train,test}/` with `values.csv` (each file and its digit as a
number), what `experiments/cnn_digit_values.toml` regresses, and fits linear and boosted
regressions on the pixels.
Needs scikit-learn, pandas and Pillow (pip install scikit-learn pandas pillow).
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def split(path, target, stratify):
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    train, test = train_test_split(
        df, test_size=0.2, random_state=0, stratify=df[target] if stratify else None
    )
    out = Path(path).parent
    train.to_csv(out / "train.csv", index=False)
    test.to_csv(out / "test.csv", index=False)
    return train, test


def timed(name, fit, score):
    start = time.time()
    model = fit()
    seconds = time.time() - start
    return {"model": name, "fit_s": round(seconds, 2), **score(model)}


def letters(path):
    train, test = split(path, "letter", True)
    x, y = train.drop(columns="letter").values, train["letter"].values
    xt, yt = test.drop(columns="letter").values, test["letter"].values
    scaler = StandardScaler().fit(x)

    def acc(model, scaled=False):
        p = model.predict(scaler.transform(xt) if scaled else xt)
        return {"accuracy": accuracy_score(yt, p), "macro_f1": f1_score(yt, p, average="macro")}

    return [
        timed("HistGradientBoostingClassifier()", lambda: HistGradientBoostingClassifier(random_state=0).fit(x, y), acc),
        timed("RandomForestClassifier(500)", lambda: RandomForestClassifier(500, random_state=0, n_jobs=-1).fit(x, y), acc),
        timed(
            "MLPClassifier((256, 128), early_stopping)",
            lambda: MLPClassifier((256, 128), max_iter=200, early_stopping=True, random_state=0).fit(scaler.transform(x), y),
            lambda m: acc(m, True),
        ),
    ]


def bikeshare(path):
    train, test = split(path, "bikers", False)
    drop = ["bikers", "casual", "registered", "day"]
    cats = ["season", "mnth", "hr", "weekday", "weathersit"]
    both = pd.get_dummies(pd.concat([train, test]).drop(columns=drop), columns=cats, dtype=float)
    x, xt = both.iloc[: len(train)].values, both.iloc[len(train):].values
    y, yt = train["bikers"].values, test["bikers"].values

    def reg(model):
        p = model.predict(xt)
        return {"rmse": mean_squared_error(yt, p) ** 0.5, "mae": mean_absolute_error(yt, p), "r2": r2_score(yt, p)}

    return [
        timed("HistGradientBoostingRegressor()", lambda: HistGradientBoostingRegressor(random_state=0).fit(x, y), reg),
    ]


def yeast(path):
    """Multi-label: every label at once, scored as kiln's multilabel task scores them."""
    train, test = split(path, None, False)
    labels = [c for c in train.columns if c.startswith("Class")]
    x, y = train.drop(columns=labels).values, train[labels].values
    xt, yt = test.drop(columns=labels).values, test[labels].values
    scaler = StandardScaler().fit(x)

    def scores(model):
        p = model.predict(scaler.transform(xt))
        return {
            "accuracy": float((p == yt).mean()),
            "macro_f1": f1_score(yt, p, average="macro", zero_division=0),
            "micro_f1": f1_score(yt, p, average="micro", zero_division=0),
            "subset_accuracy": accuracy_score(yt, p),
        }

    scaled = scaler.transform(x)
    return [
        timed(
            "LogisticRegression per label",
            lambda: MultiOutputClassifier(LogisticRegression(max_iter=2000)).fit(scaled, y),
            scores,
        ),
        timed("RandomForestClassifier(500)", lambda: RandomForestClassifier(500, random_state=0, n_jobs=-1).fit(scaled, y), scores),
        timed(
            "MLPClassifier((256,), early_stopping)",
            lambda: MLPClassifier((256,), max_iter=200, early_stopping=True, random_state=0).fit(scaled, y),
            scores,
        ),
    ]


def spam(path):
    train, test = split(path, "label", True)
    vec = TfidfVectorizer(max_features=20000, sublinear_tf=True)
    x = vec.fit_transform(train["text"].fillna(""))
    xt = vec.transform(test["text"].fillna(""))
    y, yt = train["label"].values, test["label"].values

    def acc(model):
        p = model.predict(xt)
        return {"accuracy": accuracy_score(yt, p), "macro_f1": f1_score(yt, p, average="macro")}

    return [
        timed("TF-IDF + LogisticRegression(C=10)", lambda: LogisticRegression(C=10, max_iter=2000).fit(x, y), acc),
    ]


def images(folder):
    from PIL import Image

    root = Path(folder)
    files, labels = [], []
    for c in sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted((root / c).rglob("*")):
            if f.suffix.lower() in (".png", ".jpg", ".jpeg"):
                files.append(f)
                labels.append(c)
    Image.MAX_IMAGE_PIXELS = None

    def pixels(path):
        try:
            with Image.open(path) as im:
                if im.width * im.height * 4 > 512 << 20:
                    return None  # kiln's decode limit skips these too
                im = im.convert("RGBA")
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, im).convert("RGB")
                scale = min(32 / im.width, 32 / im.height)
                w, h = max(1, min(32, round(im.width * scale))), max(1, min(32, round(im.height * scale)))
                canvas = Image.new("RGB", (32, 32), (0, 0, 0))
                canvas.paste(im.resize((w, h), Image.BILINEAR), ((32 - w) // 2, (32 - h) // 2))
                return np.asarray(canvas, dtype=np.float32).ravel() / 255
        except Exception:
            return None

    decoded = [pixels(f) for f in files]
    keep = [i for i, x in enumerate(decoded) if x is not None]
    files = [files[i] for i in keep]
    labels = np.array([labels[i] for i in keep])
    x_all = np.stack([decoded[i] for i in keep])
    idx_train, idx_test = train_test_split(np.arange(len(files)), test_size=0.2, random_state=0, stratify=labels)
    out = root.parent / (root.name + "_split")
    for split, idx in (("train", idx_train), ("test", idx_test)):
        for i in idx:
            dest = out / split / labels[i] / f"{i}_{files[i].name}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                dest.symlink_to(files[i].resolve())
    x, y, xt, yt = x_all[idx_train], labels[idx_train], x_all[idx_test], labels[idx_test]

    def acc(model):
        p = model.predict(xt)
        return {"accuracy": accuracy_score(yt, p), "macro_f1": f1_score(yt, p, average="macro")}

    majority = max(set(y), key=list(y).count)
    return [
        {"model": "majority class", "accuracy": float(np.mean(yt == majority))},
        timed("HistGradientBoostingClassifier() on pixels", lambda: HistGradientBoostingClassifier(random_state=0).fit(x, y), acc),
    ]


def digit_values(folder):
    import gzip

    from PIL import Image

    def idx(name):
        raw = gzip.open(Path(folder) / name).read()
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)

    out = Path("datasets/mnist_values")
    rows = ["file,digit"]
    sets = {}
    for split, prefix, count in (("train", "train", 20000), ("test", "t10k", 10000)):
        images = idx(f"{prefix}-images-idx3-ubyte.gz")[:count]
        labels = idx(f"{prefix}-labels-idx1-ubyte.gz")[:count]
        (out / split).mkdir(parents=True, exist_ok=True)
        for i, (image, label) in enumerate(zip(images, labels)):
            name = f"{split}/{i}.png"
            if not (out / name).exists():
                Image.fromarray(image).save(out / name)
            rows.append(f"{name},{label}")
        sets[split] = (images.reshape(len(images), -1).astype(np.float32) / 255, labels.astype(np.float64))
    (out / "values.csv").write_text("\n".join(rows) + "\n")
    (x, y), (xt, yt) = sets["train"], sets["test"]

    def scores(model):
        p = model.predict(xt)
        return {"rmse": mean_squared_error(yt, p) ** 0.5, "mae": mean_absolute_error(yt, p), "r2": r2_score(yt, p)}

    mean = np.full_like(yt, y.mean())
    return [
        {"model": "training mean", "rmse": mean_squared_error(yt, mean) ** 0.5, "r2": r2_score(yt, mean)},
        timed("Ridge(alpha=1) on pixels", lambda: Ridge(alpha=1.0).fit(x, y), scores),
        timed("HistGradientBoostingRegressor() on pixels", lambda: HistGradientBoostingRegressor(random_state=0).fit(x, y), scores),
    ]


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("letters", "bikeshare", "spam", "images", "digit_values", "yeast"):
        sys.exit(__doc__)
    import csv

    csv.field_size_limit(1 << 30)
    np.random.seed(0)
    results = globals()[sys.argv[1]](sys.argv[2])
    print(json.dumps({"dataset": sys.argv[1], "results": results}, indent=2))
