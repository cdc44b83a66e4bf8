import json

# The run's columns as it learnt them from its training rows: each number's fill value
# (the median), mean, standard deviation and whether it has a was-missing input; each
# category's levels (id 0 is a missing value or a level the training rows lacked).
CODEC = json.loads((Path(__file__).parent / "preprocessing.json").read_text(encoding="utf-8"))["codec"]
LEVELS = {c["name"]: {level: i + 1 for i, level in enumerate(c["levels"])} for c in CODEC["categorical"]}
NUMERIC_WIDTH = len(CODEC["numeric"]) + sum(c["missing_flag"] for c in CODEC["numeric"])


def _missing(value):
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def _number(value):
    if isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return float(text.lower() == "true")
    return float(text)


def encode(rows):
    """Rows (mappings of column name to value as the file writes it, e.g. csv.DictReader's)
    to the model's inputs, as kiln encodes them: `[rows, NUMERIC_WIDTH]` standardised
    numbers (missing ones filled) followed by their was-missing flags, and `[rows,
    categories]` level ids."""
    numeric, categories = [], []
    for row in rows:
        numbers, flags = [], []
        for c in CODEC["numeric"]:
            value = row.get(c["name"])
            missing = _missing(value)
            numbers.append(((c["fill"] if missing else _number(value)) - c["mean"]) / c["std"])
            if c["missing_flag"]:
                flags.append(float(missing))
        numeric.append(numbers + flags)
        ids = []
        for c in CODEC["categorical"]:
            value = row.get(c["name"])
            ids.append(0 if _missing(value) else LEVELS[c["name"]].get(str(value).strip(), 0))
        categories.append(ids)
    n = len(numeric)
    return (
        torch.tensor(numeric, dtype=torch.float32).reshape(n, NUMERIC_WIDTH),
        torch.tensor(categories, dtype=torch.int64).reshape(n, len(CODEC["categorical"])),
    )
