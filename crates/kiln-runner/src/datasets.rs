//! Where datasets live: an existing folder named by `datasets` / `KILN_DATASETS`, or the
//! download cache `datasets/` under the working directory.

use std::path::{Path, PathBuf};

use kiln_data::{
    Corpus, ImdbSource, LengthFilter, Mnist, MnistSource, Pairs, Reviews, download::Progress,
};

use crate::schema::{DataSource, Experiment};

/// The download cache, relative to the working directory (the workspace root under xtask).
pub const CACHE_DIR: &str = "datasets";

/// Resolves the MNIST source the experiment asks for. An explicit datasets folder is used as
/// it is and never written to: missing files there are an error, not a download.
pub fn mnist_source(experiment: &Experiment) -> MnistSource {
    match (experiment.data.source, &experiment.datasets) {
        (DataSource::Sample, _) => MnistSource::EmbeddedSample,
        (DataSource::Full, Some(root)) => MnistSource::Directory {
            dir: root.join("mnist"),
            download: false,
            verify: experiment.data.verify,
        },
        (DataSource::Full, None) => MnistSource::Directory {
            dir: Path::new(CACHE_DIR).join("mnist"),
            download: experiment.data.download,
            verify: experiment.data.verify,
        },
    }
}

pub fn load_mnist(
    experiment: &Experiment,
    progress: &dyn Progress,
) -> Result<(Mnist, String), kiln_data::DataError> {
    let source = mnist_source(experiment);
    let mut mnist = Mnist::load(&source, progress)?;
    if let Some(limit) = experiment.data.train_limit {
        mnist.train.truncate(limit);
    }
    let described = match &source {
        MnistSource::EmbeddedSample => "embedded sample".to_string(),
        MnistSource::Directory { dir, .. } => absolute(dir).display().to_string(),
    };
    Ok((mnist, described))
}

/// Resolves the IMDB source like [`mnist_source`]: an explicit folder is read as it is.
pub fn imdb_source(experiment: &Experiment) -> ImdbSource {
    let extract = experiment.data.extract.unwrap_or(false);
    match (experiment.data.source, &experiment.datasets) {
        (DataSource::Sample, _) => ImdbSource::EmbeddedSample,
        (DataSource::Full, Some(root)) => ImdbSource::Directory {
            dir: root.clone(),
            download: false,
            extract: false,
        },
        (DataSource::Full, None) => ImdbSource::Directory {
            dir: PathBuf::from(CACHE_DIR),
            download: experiment.data.download,
            extract,
        },
    }
}

pub fn load_imdb(
    experiment: &Experiment,
    progress: &dyn Progress,
) -> Result<(Reviews, String), kiln_data::DataError> {
    let source = imdb_source(experiment);
    if experiment.data.extract == Some(true) && experiment.datasets.is_some() {
        tracing::warn!(
            "data.extract is ignored: kiln never writes into a datasets folder you supply; the archive is read as a stream"
        );
    }
    let mut reviews = Reviews::load(&source, progress)?;
    if let Some(limit) = experiment.data.train_limit {
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

/// The corpus an experiment asks for: its `path`, else tiny Shakespeare from the datasets
/// folder (read as it is) or the download cache.
pub fn load_corpus(
    experiment: &Experiment,
    progress: &dyn Progress,
) -> Result<(Corpus, String), kiln_data::DataError> {
    let d = &experiment.data;
    let corpus = match (d.source, &d.path, &experiment.datasets) {
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

/// The sentence pairs an experiment asks for: its `path`, else `parallel/eng-spa.tsv` in the
/// datasets folder (there is no public mirror of that file to download).
pub fn load_pairs(
    experiment: &Experiment,
    filter: LengthFilter,
) -> Result<(Pairs, String), kiln_data::DataError> {
    let d = &experiment.data;
    if d.source == DataSource::Sample {
        return Ok((
            Pairs::embedded_sample(filter)?,
            "embedded eng-spa sample".into(),
        ));
    }
    let path = match (&d.path, &experiment.datasets) {
        (Some(path), _) => path.clone(),
        (None, Some(root)) => root.join("parallel").join("eng-spa.tsv"),
        (None, None) => Path::new(CACHE_DIR).join("parallel").join("eng-spa.tsv"),
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

    fn experiment(source: DataSource, datasets: Option<&str>) -> Experiment {
        let text = format!(
            "name = \"t\"\n{}[data]\ndataset = \"mnist\"\nsource = \"{}\"\n[model]\nkind = \"mlp\"\nhidden = []\n[train]\nepochs = 1\nbatch_size = 1\nlearning_rate = 0.1\n",
            datasets
                .map(|d| format!("datasets = \"{d}\"\n"))
                .unwrap_or_default(),
            if source == DataSource::Full {
                "full"
            } else {
                "sample"
            },
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn an_existing_folder_is_read_as_is_and_the_cache_may_download() {
        assert_eq!(
            mnist_source(&experiment(DataSource::Sample, Some("/d"))),
            MnistSource::EmbeddedSample
        );
        let MnistSource::Directory { dir, download, .. } =
            mnist_source(&experiment(DataSource::Full, Some("/d")))
        else {
            panic!()
        };
        assert_eq!((dir, download), (PathBuf::from("/d/mnist"), false));
        let MnistSource::Directory { dir, download, .. } =
            mnist_source(&experiment(DataSource::Full, None))
        else {
            panic!()
        };
        assert_eq!((dir, download), (PathBuf::from("datasets/mnist"), true));
    }
}
