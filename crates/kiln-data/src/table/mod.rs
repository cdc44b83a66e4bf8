//! A user's own tables: a file read with polars, its columns given roles, and an encoding
//! learnt from the training rows that turns any file like it into model inputs.

pub mod batch;
pub mod codec;
pub mod read;

pub use batch::{TableBatch, TableBatcher};
pub use codec::{
    CategoricalColumn, EncodedTable, NumericColumn, Roles, TableCodec, Target, TargetKind,
    check_labels, class_column, class_names, listed_values, same_columns, stratified_split,
};
pub use read::{Encoding, TableFormat, read_table, read_text, within_budget};
