//! `kiln help` (a command's help, or the experiment file's keys) and the generated reference
//! pages.

use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct HelpArgs {
    /// A command, or `config` and optionally a key.
    #[arg(value_name = "TOPIC")]
    topic: Vec<String>,
}

impl HelpArgs {
    pub fn run(self) -> anyhow::Result<()> {
        help(&self.topic)
    }
}

#[derive(Debug, clap::Args)]
pub struct ReferenceArgs {
    #[arg(value_enum, default_value = "cli")]
    page: ReferencePage,
}

impl ReferenceArgs {
    pub fn run(self) -> anyhow::Result<()> {
        match self.page {
            ReferencePage::Cli => print!("{}", reference()),
            ReferencePage::Config => print!("{}", crate::config::schema::keys::reference()),
            ReferencePage::Index => {
                print!(
                    "{}",
                    crate::store::index::reference(&crate::config::spec::metric_names())
                )
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReferencePage {
    /// cli.md: every command and option.
    Cli,
    /// config.md: every key of an experiment file.
    Config,
    /// index.md: the run index's columns.
    Index,
}

/// `kiln help [COMMAND | config [KEY]]`.
fn help(topic: &[String]) -> anyhow::Result<()> {
    let mut kiln = super::Cli::command();
    kiln.build();
    match topic {
        [] => print!("{}", kiln.render_long_help()),
        [config, rest @ ..] if config == "config" => {
            anyhow::ensure!(
                rest.len() <= 1,
                "`kiln help config` takes one key, e.g. data.vocab_size"
            );
            let page = crate::config::schema::keys::help(rest.first().map(String::as_str));
            print!("{}", page.map_err(anyhow::Error::msg)?);
        }
        [command] => match kiln.find_subcommand_mut(command) {
            Some(c) if !c.is_hide_set() => print!("{}", c.render_long_help()),
            _ => anyhow::bail!(
                "no command `{command}`; `kiln help` lists the commands, `kiln help config` the experiment file's keys"
            ),
        },
        _ => anyhow::bail!("`kiln help` takes a command, or `config` and a key"),
    }
    Ok(())
}

/// The command-line reference: kiln's help and every command's, as clap renders them from
/// the definitions above, so the page cannot say what the parser does not do.
pub fn reference() -> String {
    let mut kiln = super::Cli::command().term_width(96);
    kiln.build();
    let mut s = String::from(
        "# Command-line reference\n\n\
         Every `kiln` command and its options, as `kiln help COMMAND` prints them (through \
         `cargo xtask COMMAND`, the same arguments). Generated from kiln's argument \
         definitions by `cargo xtask docs`; a test fails when this page lags them.\n\n\
         ```text\n",
    );
    s.push_str(kiln.render_long_help().to_string().trim_end());
    s.push_str("\n```\n");
    for command in kiln.get_subcommands_mut() {
        if command.is_hide_set() {
            continue;
        }
        s.push_str(&format!("\n## kiln {}\n\n```text\n", command.get_name()));
        s.push_str(command.render_long_help().to_string().trim_end());
        s.push_str("\n```\n");
    }
    s
}
