//! Tokenizers: text in, a stream of token strings out (through a callback, so that counting
//! and encoding 50k reviews allocates nothing per token).

/// Splits text into tokens. `Sync` so that corpora can be tokenised on several threads.
pub trait Tokenizer: Sync {
    /// Calls `emit` with each token of `text` in order.
    fn tokenize(&self, text: &str, emit: &mut dyn FnMut(&str));
    /// Puts tokens back into text (the inverse of [`Tokenizer::tokenize`] up to clean-up).
    fn join(&self, tokens: &[&str]) -> String;
}

/// Removes markup that reviews scraped from web pages carry: `<br />` and other tags become a
/// space and the common entities their character. Writes the result into `out`.
fn strip_html(text: &str, out: &mut String) {
    out.clear();
    let mut rest = text;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(inside) = tail.strip_prefix('<') {
            // A tag: `<` then a letter or `/`, closed by `>` within a short distance.
            let looks_like_tag = inside
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '/');
            match tail.find('>') {
                Some(end) if looks_like_tag && end <= 64 => {
                    out.push(' ');
                    rest = &tail[end + 1..];
                    continue;
                }
                _ => {}
            }
        } else {
            let entities = [
                ("&amp;", '&'),
                ("&lt;", '<'),
                ("&gt;", '>'),
                ("&quot;", '"'),
                ("&#39;", '\''),
                ("&nbsp;", ' '),
            ];
            if let Some((name, c)) = entities.iter().find(|(name, _)| tail.starts_with(name)) {
                out.push(*c);
                rest = &tail[name.len()..];
                continue;
            }
        }
        let first = tail.chars().next().expect("found a char there");
        out.push(first);
        rest = &tail[first.len_utf8()..];
    }
    out.push_str(rest);
}

/// Words and punctuation: lower-cased, HTML removed; a word is a run of Unicode letters and
/// digits, with apostrophes inside it kept (`don't`, `l'amour`); every other non-space
/// character is a token of its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordTokenizer;

impl Tokenizer for WordTokenizer {
    fn tokenize(&self, text: &str, emit: &mut dyn FnMut(&str)) {
        let mut clean = String::with_capacity(text.len());
        strip_html(text, &mut clean);
        let lower = if clean.is_ascii() {
            clean.make_ascii_lowercase();
            clean
        } else {
            clean.to_lowercase()
        };
        let mut word_start: Option<usize> = None;
        let mut chars = lower.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let in_word = c.is_alphanumeric()
                || (c == '\'' || c == '’')
                    && word_start.is_some()
                    && chars.peek().is_some_and(|(_, n)| n.is_alphanumeric());
            if in_word {
                word_start.get_or_insert(i);
                continue;
            }
            if let Some(start) = word_start.take() {
                emit(&lower[start..i]);
            }
            if !c.is_whitespace() {
                emit(&lower[i..i + c.len_utf8()]);
            }
        }
        if let Some(start) = word_start {
            emit(&lower[start..]);
        }
    }

    fn join(&self, tokens: &[&str]) -> String {
        tokens.join(" ")
    }
}

/// One token per Unicode scalar value, optionally lower-cased and with HTML removed.
#[derive(Debug, Clone, Copy)]
pub struct CharTokenizer {
    pub lowercase: bool,
    pub strip_html: bool,
}

impl Tokenizer for CharTokenizer {
    fn tokenize(&self, text: &str, emit: &mut dyn FnMut(&str)) {
        let mut clean = String::new();
        let text = if self.strip_html {
            strip_html(text, &mut clean);
            &clean
        } else {
            text
        };
        let lowered;
        let text = if self.lowercase {
            lowered = text.to_lowercase();
            &lowered
        } else {
            text
        };
        let mut buf = [0u8; 4];
        for c in text.chars() {
            emit(c.encode_utf8(&mut buf));
        }
    }

    fn join(&self, tokens: &[&str]) -> String {
        tokens.concat()
    }
}

/// Collects the tokens of `text` (for tests and small inputs).
pub fn tokens(tokenizer: &dyn Tokenizer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    tokenizer.tokenize(text, &mut |t| out.push(t.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_split_from_punctuation() {
        assert_eq!(
            tokens(
                &WordTokenizer,
                "Don't miss it!<br /><br />A 10/10 film... Really."
            ),
            [
                "don't", "miss", "it", "!", "a", "10", "/", "10", "film", ".", ".", ".", "really",
                "."
            ]
        );
    }

    #[test]
    fn words_handle_unicode_and_entities() {
        assert_eq!(
            tokens(
                &WordTokenizer,
                "CAFÉ Ünïcode naïve—fine &amp; «Ok» 'quoted'"
            ),
            [
                "café",
                "ünïcode",
                "naïve",
                "—",
                "fine",
                "&",
                "«",
                "ok",
                "»",
                "'",
                "quoted",
                "'"
            ]
        );
        // Tags go, but a lone `<` comparison stays.
        assert_eq!(tokens(&WordTokenizer, "<i>a</i> < b"), ["a", "<", "b"]);
        assert!(tokens(&WordTokenizer, "").is_empty());
    }

    #[test]
    fn chars_keep_everything_but_markup() {
        let t = CharTokenizer {
            lowercase: true,
            strip_html: true,
        };
        assert_eq!(tokens(&t, "Hé<br/>!"), ["h", "é", " ", "!"]);
        let raw = CharTokenizer {
            lowercase: false,
            strip_html: false,
        };
        let text = "Ab<br/>\n";
        let toks = tokens(&raw, text);
        let refs: Vec<&str> = toks.iter().map(String::as_str).collect();
        assert_eq!(raw.join(&refs), text);
    }
}
