//! A comparison as one self-contained HTML page: the table, the charts inline as SVG, and
//! each run's resolved config behind a click. No external scripts, styles or fonts, so the
//! page opens anywhere, offline, and can be mailed or archived as one file.

use std::fmt::Write;

use base64::prelude::{BASE64_STANDARD, Engine as _};

/// One run listed at the bottom of the page.
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub id: String,
    /// Shown as columns: status, seed, the parameters that vary, metrics.
    pub cells: Vec<(String, String)>,
    /// The run's resolved config (TOML), or why there is none.
    pub config: String,
    /// What a generative run drew last (a GAN's sample grid), as PNG bytes with a caption.
    pub image: Option<(String, Vec<u8>)>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    /// One line on what was selected and how it was grouped.
    pub subtitle: String,
    pub generated: String,
    pub table_header: Vec<String>,
    pub table_rows: Vec<Vec<(String, bool)>>,
    /// Title and SVG document of each chart.
    pub charts: Vec<(String, String)>,
    pub runs: Vec<RunEntry>,
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: ' \\25B2'; } th.sorted-desc::after { content: ' \\25BC'; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figure.samples { display: inline-block; margin-right: 1rem; } figure.samples img { image-rendering: pixelated; }
figcaption { color: #555; font-size: 0.9rem; }
details pre { background: #f8f8f8; padding: 0.6rem; max-height: 30rem; overflow: auto; font-size: 0.8rem; }
footer { color: #777; font-size: 0.8rem; margin-top: 2rem; }
table.folded tr.more { display: none; } button.unfold { margin: -0.5rem 0 1rem; }
";

/// Rows of the comparison shown before the rest is folded away (the best first).
const UNFOLDED: usize = 20;

/// Sorts a table by a clicked header, numbers as numbers; nothing else.
const SCRIPT: &str = r#"
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('sorted-asc', 'sorted-desc'); });
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      var key = function (row) {
        var text = row.cells[col].getAttribute('data-sort') || row.cells[col].textContent;
        var n = parseFloat(text);
        return isNaN(n) ? text : n;
      };
      table.classList.remove('folded');
      var unfold = document.querySelector('button.unfold[data-for="' + table.id + '"]');
      if (unfold) { unfold.remove(); }
      Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === 'number' ? -1 : 1);
        return asc ? c : -c;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
document.querySelectorAll('button.unfold').forEach(function (b) {
  b.addEventListener('click', function () {
    document.getElementById(b.getAttribute('data-for')).classList.remove('folded');
    b.remove();
  });
});
// For headless checks: how many charts the browser laid out with a real size.
var drawn = Array.prototype.filter.call(document.querySelectorAll('figure svg'), function (svg) {
  var box = svg.getBoundingClientRect();
  return box.width > 100 && box.height > 100;
}).length;
document.documentElement.setAttribute('data-charts-drawn', String(drawn));
document.documentElement.setAttribute('data-ready', 'true');
"#;

/// A sortable table; past `fold` rows the rest is hidden behind a button.
fn table(out: &mut String, id: &str, header: &[String], rows: &[Vec<(String, bool)>], fold: usize) {
    let folded = rows.len() > fold + 5;
    let _ = write!(
        out,
        "<table id=\"{id}\" class=\"sortable{}\"><thead><tr>",
        if folded { " folded" } else { "" }
    );
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for (i, row) in rows.iter().enumerate() {
        out.push_str(if folded && i >= fold {
            "<tr class=\"more\">"
        } else {
            "<tr>"
        });
        for (text, numeric) in row {
            if *numeric {
                // Sort on the mean of a `mean ± std` cell.
                let key = text.split(' ').next().unwrap_or(text);
                let _ = write!(
                    out,
                    "<td class=\"num\" data-sort=\"{}\">{}</td>",
                    escape(key),
                    escape(text)
                );
            } else {
                let _ = write!(out, "<td>{}</td>", escape(text));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    if folded {
        let _ = writeln!(
            out,
            "<button class=\"unfold\" data-for=\"{id}\">show the other {} rows</button>",
            rows.len() - fold
        );
    }
}

impl Page {
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n",
            escape(&self.title)
        );
        let _ = write!(
            out,
            "<h1>{}</h1><p class=\"sub\">{}</p>\n<h2>{}</h2>\n",
            escape(&self.title),
            escape(&self.subtitle),
            if self.table_rows.len() == 1 {
                "The run"
            } else {
                "Comparison"
            }
        );
        table(
            &mut out,
            "comparison",
            &self.table_header,
            &self.table_rows,
            UNFOLDED,
        );
        if !self.charts.is_empty() {
            out.push_str("<h2>Charts</h2>\n");
        }
        for (i, (title, svg)) in self.charts.iter().enumerate() {
            let _ = writeln!(
                out,
                "<figure id=\"chart-{i}\">{svg}<figcaption>{}</figcaption></figure>",
                escape(title)
            );
        }
        let drawn: Vec<(&str, &str, &[u8])> = self
            .runs
            .iter()
            .filter_map(|r| {
                r.image
                    .as_ref()
                    .map(|(c, png)| (&r.id[..], &c[..], &png[..]))
            })
            .collect();
        if !drawn.is_empty() {
            out.push_str("<h2>Samples</h2>\n");
        }
        for (id, caption, png) in drawn {
            let _ = writeln!(
                out,
                "<figure class=\"samples\"><img alt=\"samples of {id}\" src=\"data:image/png;base64,{}\"><figcaption>{id}: {}</figcaption></figure>",
                BASE64_STANDARD.encode(png),
                escape(caption),
                id = escape(id),
            );
        }
        let _ = writeln!(out, "<h2>Runs ({})</h2>", self.runs.len());
        let header: Vec<String> = std::iter::once("run".to_string())
            .chain(
                self.runs
                    .first()
                    .into_iter()
                    .flat_map(|r| r.cells.iter().map(|(k, _)| k.clone())),
            )
            .chain(std::iter::once("config".to_string()))
            .collect();
        let _ = write!(out, "<table id=\"runs\" class=\"sortable\"><thead><tr>");
        for h in &header {
            let _ = write!(out, "<th>{}</th>", escape(h));
        }
        out.push_str("</tr></thead><tbody>\n");
        for run in &self.runs {
            let _ = write!(out, "<tr><td>{}</td>", escape(&run.id));
            for (_, v) in &run.cells {
                let _ = write!(out, "<td>{}</td>", escape(v));
            }
            let _ = writeln!(
                out,
                "<td><details><summary>config</summary><pre>{}</pre></details></td></tr>",
                escape(&run.config)
            );
        }
        out.push_str("</tbody></table>\n");
        let _ = write!(
            out,
            "<footer>Generated by kiln on {}.</footer>\n<script>{SCRIPT}</script>\n</body></html>\n",
            escape(&self.generated)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained_and_escaped() {
        let page = Page {
            title: "sweep <optimizers>".into(),
            subtitle: "4 groups".into(),
            generated: "2026-11-24".into(),
            table_header: vec!["optimizer".into(), "test_accuracy".into()],
            table_rows: vec![vec![
                ("adam & co".into(), false),
                ("0.9800 ± 0.0010".into(), true),
            ]],
            charts: vec![("bars".into(), "<svg width=\"1\"></svg>".into())],
            runs: vec![RunEntry {
                id: "t001-s1".into(),
                cells: vec![("status".into(), "completed".into())],
                config: "name = \"x\"\n[train]\nlr = 1e-3 # <b>".into(),
                image: Some(("epoch 3".into(), vec![0x89, b'P', b'N', b'G'])),
            }],
        };
        let html = page.to_html();
        assert!(html.contains("sweep &lt;optimizers&gt;"));
        assert!(html.contains("adam &amp; co"));
        assert!(html.contains("data-sort=\"0.9800\""));
        assert!(html.contains("<svg width=\"1\"></svg>"));
        assert!(html.contains("# &lt;b&gt;</pre></details>"));
        assert!(html.contains("<h2>Samples</h2>"));
        assert!(
            html.contains("src=\"data:image/png;base64,iVBORw==\""),
            "{html}"
        );
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
        assert!(!html.contains("sortable folded"), "one row is not folded");
    }

    #[test]
    fn a_long_comparison_shows_its_first_rows_and_folds_the_rest() {
        let rows = |n: usize| -> Vec<Vec<(String, bool)>> {
            (0..n).map(|i| vec![(format!("t{i:03}"), false)]).collect()
        };
        let page = |n: usize| Page {
            title: "t".into(),
            subtitle: String::new(),
            generated: String::new(),
            table_header: vec!["run".into()],
            table_rows: rows(n),
            charts: Vec::new(),
            runs: Vec::new(),
        };
        let html = page(100).to_html();
        assert!(html.contains("class=\"sortable folded\""));
        assert_eq!(html.matches("<tr class=\"more\">").count(), 80);
        assert!(html.contains("show the other 80 rows"));
        assert!(html.contains("<tr><td>t019</td>") && html.contains("<tr class=\"more\"><td>t020"));
        // A table a little longer than the fold is shown whole.
        let html = page(UNFOLDED + 3).to_html();
        assert!(!html.contains("sortable folded") && !html.contains("<tr class=\"more\">"));
    }
}
