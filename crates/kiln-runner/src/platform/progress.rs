//! Logs and progress bars. On a terminal, indicatif bars (one per tracing span) sit below
//! the log lines without clobbering them; elsewhere, or with `--quiet`, only plain lines.

use std::io::IsTerminal;

use tracing::Span;
use tracing_indicatif::IndicatifLayer;
use tracing_indicatif::filter::{IndicatifFilter, hide_indicatif_span_fields};
use tracing_indicatif::span_ext::IndicatifSpanExt;
use tracing_indicatif::style::ProgressStyle;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global subscriber. `RUST_LOG` refines the level; `quiet` keeps warnings only.
pub fn init(quiet: bool) {
    let level = if quiet { "warn" } else { "info" };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let bars = !quiet && std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry();
    let result = if bars {
        let layer = IndicatifLayer::new()
            .with_span_field_formatter(hide_indicatif_span_fields(DefaultFields::new()));
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .fmt_fields(hide_indicatif_span_fields(DefaultFields::new()))
                    .with_writer(layer.get_stderr_writer())
                    .with_filter(filter()),
            )
            .with(layer.with_filter(IndicatifFilter::new(false)))
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(false)
                    .fmt_fields(hide_indicatif_span_fields(DefaultFields::new()))
                    .with_writer(std::io::stderr)
                    .with_filter(filter()),
            )
            .try_init()
    };
    // A second init (tests calling the CLI entry twice) keeps the first subscriber.
    let _ = result;
}

/// A span that shows as a bar of `len` units when bars are on, and costs nothing otherwise.
pub fn bar(span: Span, len: u64, unit: &str) -> Span {
    let template = format!(
        "{{span_name:>9}} {{wide_bar:.cyan/blue}} {{pos:>6}}/{{len:6}} {unit} {{msg}} [{{elapsed_precise}} < {{eta_precise}}]"
    );
    span.pb_set_style(
        &ProgressStyle::with_template(&template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    span.pb_set_length(len);
    span
}

/// Download progress for kiln-data, drawn as a byte bar.
#[derive(Default)]
pub struct DownloadBar {
    span: std::cell::RefCell<Option<tracing::span::EnteredSpan>>,
}

impl kiln_data::download::Progress for DownloadBar {
    fn start(&self, name: &str, total_bytes: Option<u64>) {
        let span = tracing::info_span!("download", indicatif.pb_show = true, file = name);
        let span = bar(span, total_bytes.unwrap_or(0), "bytes");
        *self.span.borrow_mut() = Some(span.entered());
    }
    fn advance(&self, bytes: u64) {
        if let Some(span) = self.span.borrow().as_ref() {
            span.pb_inc(bytes);
        }
    }
    fn finish(&self) {
        self.span.borrow_mut().take();
    }
}
