//! Where datasets live: an existing folder named by `datasets` / `KILN_DATASETS`, or the
//! download cache `datasets/` under the working directory.

use std::path::{Path, PathBuf};

use kiln_data::mnist::IdxSet;
use kiln_data::{
    Corpus, ImdbSource, LengthFilter, Mnist, MnistSource, Pairs, Reviews, download::Progress,
};

use crate::config::schema::{
    CorpusSettings, DataSource, ImdbSettings, MnistSettings, PairsSettings,
};

/// The download cache, relative to the working directory (the workspace root under xtask).
pub const CACHE_DIR: &str = "datasets";

/// Resolves the source of an MNIST-like `set` the settings ask for: its folder (`mnist`,
/// `fashion_mnist`) under an explicit datasets folder (`root`), used as it is and never
/// written to, so that missing files there are an error, not a download; else under the
/// download cache.
pub fn mnist_source(d: &MnistSettings, set: &IdxSet, root: Option<&Path>) -> MnistSource {
    let folder = set.folder;
    match (d.source, root) {
        (DataSource::Sample, _) => MnistSource::EmbeddedSample,
        (DataSource::Full, Some(root)) => MnistSource::Directory {
            dir: root.join(folder),
            download: false,
            verify: d.verify,
        },
        (DataSource::Full, None) => MnistSource::Directory {
            dir: Path::new(CACHE_DIR).join(folder),
            download: d.download,
            verify: d.verify,
        },
    }
}

/// MNIST as the settings ask for it.
pub fn load_mnist(
    d: &MnistSettings,
    root: Option<&Path>,
    progress: &dyn Progress,
) -> Result<(Mnist, String), kiln_data::DataError> {
    load_idx_set(d, &kiln_data::mnist::MNIST, root, progress)
}

/// MNIST or another set published as it is, as the settings ask for it.
pub fn load_idx_set(
    d: &MnistSettings,
    set: &IdxSet,
    root: Option<&Path>,
    progress: &dyn Progress,
) -> Result<(Mnist, String), kiln_data::DataError> {
    let source = mnist_source(d, set, root);
    let mut mnist = Mnist::load_set(set, &source, progress)?;
    if let Some(limit) = d.train_limit {
        mnist.train.truncate(limit);
    }
    let described = match &source {
        MnistSource::EmbeddedSample => "embedded sample".to_string(),
        MnistSource::Directory { dir, .. } => absolute(dir).display().to_string(),
    };
    Ok((mnist, described))
}

/// CIFAR-10 or -100 from the datasets folder (read as it is) or the download cache.
pub fn load_cifar(
    which: kiln_data::cifar::Cifar,
    d: &crate::config::schema::CifarSettings,
    root: Option<&Path>,
    progress: &dyn Progress,
) -> Result<(kiln_data::cifar::CifarData, String), kiln_data::DataError> {
    let (dir, download) = match root {
        Some(root) => (root.to_path_buf(), false),
        None => (PathBuf::from(CACHE_DIR), d.download),
    };
    let mut data = kiln_data::cifar::load(which, &dir, download, progress)?;
    if let Some(limit) = d.train_limit {
        data.images.train.truncate(limit);
    }
    let described = absolute(&data.path).display().to_string();
    Ok((data, described))
}

/// Resolves the IMDB source like [`mnist_source`]: an explicit folder is read as it is.
pub fn imdb_source(d: &ImdbSettings, root: Option<&Path>) -> ImdbSource {
    match (d.source, root) {
        (DataSource::Sample, _) => ImdbSource::EmbeddedSample,
        (DataSource::Full, Some(root)) => ImdbSource::Directory {
            dir: root.to_path_buf(),
            download: false,
            extract: false,
        },
        (DataSource::Full, None) => ImdbSource::Directory {
            dir: PathBuf::from(CACHE_DIR),
            download: d.download,
            extract: d.extract,
        },
    }
}

pub fn load_imdb(
    d: &ImdbSettings,
    root: Option<&Path>,
    progress: &dyn Progress,
) -> Result<(Reviews, String), kiln_data::DataError> {
    let source = imdb_source(d, root);
    if d.extract && root.is_some() {
        tracing::warn!(
            "data.extract is ignored: kiln never writes into a datasets folder you supply; the archive is read as a stream"
        );
    }
    let mut reviews = Reviews::load(&source, progress)?;
    if let Some(limit) = d.train_limit {
        // Reviews are stored negatives first; a plain prefix would be one class only.
        let (neg, pos): (Vec<_>, Vec<_>) = reviews.train.into_iter().partition(|r| !r.positive);
        let mut kept: Vec<_> = neg.into_iter().take(limit.div_ceil(2)).collect();
        kept.extend(pos.into_iter().take(limit / 2));
        reviews.train = kept;
    }
    let described = match &source {
        ImdbSource::EmbeddedSample => "embedded sample".to_string(),
        ImdbSource::Directory { dir, .. } => absolute(dir).display().to_string(),
    };
    Ok((reviews, described))
}

/// The corpus the settings ask for: its `path`, else tiny Shakespeare from the datasets
/// folder (read as it is) or the download cache.
pub fn load_corpus(
    d: &CorpusSettings,
    root: Option<&Path>,
    progress: &dyn Progress,
) -> Result<(Corpus, String), kiln_data::DataError> {
    let corpus = match (d.source, &d.path, root) {
        (DataSource::Sample, _, _) => Corpus::embedded_sample(),
        (DataSource::Full, Some(path), _) => Corpus::read(path)?,
        (DataSource::Full, None, Some(root)) => {
            Corpus::tiny_shakespeare(&root.join("tinyshakespeare"), false, d.verify, progress)?
        }
        (DataSource::Full, None, None) => Corpus::tiny_shakespeare(
            &Path::new(CACHE_DIR).join("tinyshakespeare"),
            d.download,
            d.verify,
            progress,
        )?,
    };
    let described = if d.source == DataSource::Sample {
        "embedded tiny Shakespeare sample".to_string()
    } else {
        absolute(&corpus.path).display().to_string()
    };
    Ok((corpus, described))
}

/// The sentence pairs the settings ask for: its `path`, else `parallel/eng-spa.tsv` in the
/// datasets folder (there is no public mirror of that file to download).
pub fn load_pairs(
    d: &PairsSettings,
    root: Option<&Path>,
) -> Result<(Pairs, String), kiln_data::DataError> {
    let filter = LengthFilter {
        max_chars: d.max_chars,
        max_words: d.max_words,
    };
    if d.source == DataSource::Sample {
        return Ok((
            Pairs::embedded_sample(filter)?,
            "embedded eng-spa sample".into(),
        ));
    }
    let path = match (&d.path, root) {
        (Some(path), _) => path.clone(),
        (None, Some(root)) => root.join(kiln_data::pairs::DEFAULT_FILE),
        (None, None) => Path::new(CACHE_DIR).join(kiln_data::pairs::DEFAULT_FILE),
    };
    if !path.exists() {
        return Err(kiln_data::DataError::Missing {
            name: path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into()),
            dir: absolute(path.parent().unwrap_or(Path::new("."))),
            hint: "pairs are never downloaded: set data.path, or KILN_DATASETS to a folder with parallel/eng-spa.tsv".into(),
        });
    }
    let pairs = Pairs::read(&path, filter)?;
    Ok((pairs, absolute(&path).display().to_string()))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    use kiln_data::mnist::{FASHION_MNIST, MNIST};

    fn settings(source: DataSource) -> MnistSettings {
        let text = format!(
            "source = \"{}\"",
            if source == DataSource::Full {
                "full"
            } else {
                "sample"
            }
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn an_existing_folder_is_read_as_is_and_the_cache_may_download() {
        assert_eq!(
            mnist_source(&settings(DataSource::Sample), &MNIST, Some(Path::new("/d"))),
            MnistSource::EmbeddedSample
        );
        let MnistSource::Directory { dir, download, .. } =
            mnist_source(&settings(DataSource::Full), &MNIST, Some(Path::new("/d")))
        else {
            panic!()
        };
        assert_eq!((dir, download), (PathBuf::from("/d/mnist"), false));
        let MnistSource::Directory { dir, .. } = mnist_source(
            &settings(DataSource::Full),
            &FASHION_MNIST,
            Some(Path::new("/d")),
        ) else {
            panic!()
        };
        assert_eq!(dir, PathBuf::from("/d/fashion_mnist"));
        let MnistSource::Directory { dir, download, .. } =
            mnist_source(&settings(DataSource::Full), &MNIST, None)
        else {
            panic!()
        };
        assert_eq!((dir, download), (PathBuf::from("datasets/mnist"), true));
    }
}
