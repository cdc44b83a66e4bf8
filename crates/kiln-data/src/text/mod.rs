//! Text into token ids: tokenizers, a vocabulary learnt from the training split, padded
//! batches, language-model windows, and pre-trained word vectors.

pub mod batch;
pub mod glove;
pub mod pair_batch;
pub mod tokenize;
pub mod vocab;
pub mod windows;

pub use batch::{SequenceBatcher, TextBatch, Truncate};
pub use glove::{Pretrained, load_glove};
pub use pair_batch::{PairBatch, PairBatcher};
pub use tokenize::{CharTokenizer, Tokenizer, WordTokenizer};
pub use vocab::{SPECIALS, Vocabulary};
pub use windows::{WindowBatch, Windows};
