#!/usr/bin/env python3
"""Reference scores for kiln's own-data experiments, from scikit-learn on the same split.

    python3 bench/reference_sklearn.py letters datasets/letters/letters.csv
    python3 bench/reference_sklearn.py bikeshare datasets/bikeshare/bikeshare.csv
    python3 bench/reference_sklearn.py spam datasets/spam/emails.csv

Each writes `train.csv` and `test.csv` beside the input (a seeded 80/20 split, stratified
for classification), fits scikit-learn models on train.csv and prints their test scores as
JSON. Train kiln on the very same files with
    cargo xtask run experiments/X.toml --set data.path=\"DIR/train.csv\" --set data.test=\"DIR/test.csv\"
Needs scikit-learn and pandas (pip install scikit-learn pandas).
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
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


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("letters", "bikeshare", "spam"):
        sys.exit(__doc__)
    import csv

    csv.field_size_limit(1 << 30)
    np.random.seed(0)
    results = globals()[sys.argv[1]](sys.argv[2])
    print(json.dumps({"dataset": sys.argv[1], "results": results}, indent=2))
