//! Using a finished run: `kiln generate` (text from a language model, a grid of images from a
//! GAN) and `kiln translate` (an encoder-decoder's outputs), answered by the run's task from
//! its resolved config, vocabularies and best checkpoint. Inference runs on flex (CPU) and is
//! seeded, so the same command gives the same output.

use std::path::Path;

use crate::store::finished::Finished;
pub use crate::store::finished::GenerateArgs;

/// What the run's task generates for `args`; `unfinished` accepts a run that did not
/// complete.
pub fn generate(dir: &Path, args: &GenerateArgs, unfinished: bool) -> anyhow::Result<String> {
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        anyhow::bail!(
            "--temperature must be a positive number, got {}",
            args.temperature
        );
    }
    if args.top_k == Some(0) {
        anyhow::bail!("--top-k must be at least 1");
    }
    let f = Finished::open(dir, unfinished)?;
    task_of(&f)?.generate(&f, args)
}

/// Decodes each input with the run's model: the inputs given, else every line of stdin.
/// `beam_width` overrides the run's.
pub fn translate(
    dir: &Path,
    inputs: &[String],
    beam_width: Option<usize>,
    unfinished: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    if beam_width == Some(0) {
        anyhow::bail!("--beam-width must be at least 1");
    }
    let f = Finished::open(dir, unfinished)?;
    task_of(&f)?.translate(&f, inputs, beam_width, out)
}

fn task_of(f: &Finished) -> anyhow::Result<&'static dyn crate::tasks::TaskKind> {
    crate::tasks::for_file(&f.experiment, &f.run.config())
}
