//! Records the resolved versions of the crates that decide a run's numbers, from the
//! workspace's Cargo.lock, so that every manifest can name them.

const RECORDED: &[&str] = &[
    "burn",
    "burn-flex",
    "burn-autodiff",
    "burn-optim",
    "polars",
    "plotters",
    "figment",
];

fn main() {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    println!("cargo::rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let mut found = Vec::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take())
            && RECORDED.contains(&n.as_str())
        {
            found.push(format!("{n}={}", v.trim_matches('"')));
        }
    }
    println!("cargo::rustc-env=LOCKED_DEP_VERSIONS={}", found.join(","));
}
