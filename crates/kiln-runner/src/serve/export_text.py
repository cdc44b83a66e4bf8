TOKENIZER = "@TOKENIZER@"  # kiln's tokenizer for this run: "word" or "char"
MAX_LEN = @MAX_LEN@  # tokens kept; longer texts lose @CUT@
PAD, UNK = @PAD@, @UNK@

_ENTITIES = (("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&nbsp;", " "))
# Unicode's White_Space, which kiln (Rust's char::is_whitespace) splits at.
_SPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}


def strip_html(text):
    """kiln's clean-up of reviews scraped from the web: a tag (`<` then a letter or `/`,
    closed by `>` within 64 bytes) becomes a space, six common entities their character."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "<":
            after = text[i + 1 : i + 2]
            end = text.find(">", i)
            tag = after == "/" or (after.isascii() and after.isalpha())
            if tag and end != -1 and len(text[i:end].encode("utf-8")) <= 64:
                out.append(" ")
                i = end + 1
                continue
        elif c == "&":
            entity = next((e for e in _ENTITIES if text.startswith(e[0], i)), None)
            if entity:
                out.append(entity[1])
                i += len(entity[0])
                continue
        out.append(c)
        i += 1
    return "".join(out)


def tokenize(text):
    """The tokens kiln's tokenizer gives: "word" lower-cases, keeps runs of letters and
    digits (with apostrophes inside them) as words and every other non-space character as a
    token; "char" gives every character. Both strip HTML first. (Python's `isalnum` misses
    the few combining marks and symbols Unicode counts as alphabetic, e.g. Devanagari vowel
    signs, which kiln keeps inside words.)"""
    text = strip_html(text)
    if TOKENIZER == "char":
        return list(text)
    text = text.lower()
    tokens, start = [], None
    for i, c in enumerate(text):
        apostrophe = c in "'\u2019" and start is not None and text[i + 1 : i + 2].isalnum()
        if c.isalnum() or apostrophe:
            if start is None:
                start = i
            continue
        if start is not None:
            tokens.append(text[start:i])
            start = None
        if c not in _SPACE:
            tokens.append(c)
    if start is not None:
        tokens.append(text[start:])
    return tokens


def vocabulary(folder=Path(__file__).parent):
    """Token to id: vocab.txt holds token `i` on line `i`, with backslash, newline, carriage
    return and tab escaped."""
    unescape = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t"}
    tokens = {}
    for i, line in enumerate((Path(folder) / "vocab.txt").read_text("utf-8").split("\n")[:-1]):
        out, j = [], 0
        while j < len(line):
            pair = line[j : j + 2]
            if pair in unescape:
                out.append(unescape[pair])
                j += 2
            else:
                out.append(line[j])
                j += 1
        tokens.setdefault("".join(out), i)
    return tokens


def encode(texts, vocab=None):
    """Texts (strings, tokenized here, or lists of tokens) to the padded `ids` and
    `lengths` the model reads, truncated as the run's were."""
    vocab = vocabulary() if vocab is None else vocab
    rows = []
    for text in texts:
        tokens = tokenize(text) if isinstance(text, str) else text
        if not tokens:
            raise ValueError(f"no tokens in {text!r}")
        ids = [vocab.get(token, UNK) for token in tokens]
        rows.append(@KEEP@)
    lengths = torch.tensor([len(r) for r in rows])
    ids = torch.full((len(rows), int(lengths.max())), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    return ids, lengths
