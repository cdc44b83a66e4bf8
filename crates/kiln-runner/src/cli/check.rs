//! `kiln check`: a file checked and printed resolved.

use super::args::ExperimentFile;
use crate::config::Plan;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    experiment: ExperimentFile,
}

impl CheckArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let ExperimentFile { file, sets } = &self.experiment;
        match crate::config::plan(file, &sets.sets) {
            Ok(Plan::Single(l)) => toml::to_string_pretty(&l.experiment)
                .map(|t| print!("{t}"))
                .map_err(anyhow::Error::from),
            Ok(Plan::Sweep(sweep)) => {
                println!(
                    "{}: a sweep of {} trials, each checked; the first resolves to:\n",
                    file.display(),
                    sweep.trials.len()
                );
                toml::to_string_pretty(&sweep.trials[0].loaded.experiment)
                    .map(|t| print!("{t}"))
                    .map_err(anyhow::Error::from)
            }
            Ok(Plan::Search(search)) => {
                println!(
                    "{}: a search over {} keys, each key's extremes and every choice checked; with the first values it resolves to:\n",
                    file.display(),
                    search.spec.params.len()
                );
                toml::to_string_pretty(&search.base.experiment)
                    .map(|t| print!("{t}"))
                    .map_err(anyhow::Error::from)
            }
            Err(e) => Err(e.into()),
        }
    }
}
