//! `[cluster]`: what a sweep asks of a cluster scheduler when it is submitted (`kiln submit
//! FILE --to slurm|kubernetes`). Not part of what a trial is: where it runs does not change it.

use serde::{Deserialize, Serialize};

use kiln_models::Invalid;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Slurm `--partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Each trial's time limit, as Slurm writes it: minutes, `MM:SS`, `HH:MM:SS`, `D-HH`,
    /// `D-HH:MM` or `D-HH:MM:SS`. A trial gets SIGUSR1 90 s before it, checkpoints, and is
    /// requeued to go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// CPUs per trial (Slurm `--cpus-per-task`, Kubernetes `cpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Memory per trial: a number with K, M, G or T (Slurm `--mem`, Kubernetes `memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// GPUs per trial (Slurm `--gres=gpu:N`, Kubernetes `nvidia.com/gpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// Slurm `--account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// At most this many trials at once (Slurm `--array=...%N`, Kubernetes `parallelism`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<usize>,
    /// More `#SBATCH` options, each as sbatch takes it, e.g. `"--qos=high"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// Kubernetes: the container image holding the checkout and a built kiln.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Kubernetes: the namespace of the Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Kubernetes: the PersistentVolumeClaim mounted as the results folder, shared by every
    /// trial's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
}

impl ClusterSettings {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Checks what sbatch would otherwise refuse only after the sweep is queued.
    pub fn validate(&self) -> Result<(), Invalid> {
        if let Some(t) = &self.time
            && !is_slurm_time(t)
        {
            return Err(Invalid::new(
                "time",
                format!(
                    "`{t}` is not a Slurm time: expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
                ),
            ));
        }
        if let Some(m) = &self.memory {
            let digits = m.trim_end_matches(['K', 'M', 'G', 'T']);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(Invalid::new(
                    "memory",
                    format!("`{m}` is not an amount of memory: expected e.g. \"16G\" or \"500M\""),
                ));
            }
        }
        if self.cpus == Some(0) {
            return Err(Invalid::new("cpus", "at least 1"));
        }
        if self.parallel == Some(0) {
            return Err(Invalid::new("parallel", "at least 1"));
        }
        for line in &self.extra {
            if !line.starts_with("--") || line.contains('\n') {
                return Err(Invalid::new(
                    "extra",
                    format!("`{line}`: each entry is one sbatch option, e.g. \"--qos=high\""),
                ));
            }
        }
        for (key, value) in [
            ("partition", &self.partition),
            ("account", &self.account),
            ("image", &self.image),
            ("namespace", &self.namespace),
            ("volume", &self.volume),
        ] {
            if let Some(v) = value
                && (v.is_empty() || v.chars().any(|c| c.is_whitespace()))
            {
                return Err(Invalid::new(key, format!("`{v}`: one word expected")));
            }
        }
        Ok(())
    }
}

/// Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
fn is_slurm_time(t: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(number) && parts.len() <= 3 && parts.iter().all(|p| number(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_times_and_amounts_are_checked() {
        for good in ["30", "10:00", "02:00:00", "1-12", "1-12:30", "2-00:00:00"] {
            assert!(is_slurm_time(good), "{good}");
        }
        for bad in ["", "2h", "1:2:3:4", "-1", "a-1", "1-"] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
        let with = |f: fn(&mut ClusterSettings)| {
            let mut c = ClusterSettings::default();
            f(&mut c);
            c.validate()
        };
        assert!(with(|c| c.memory = Some("16G".into())).is_ok());
        assert_eq!(
            with(|c| c.memory = Some("lots".into())).unwrap_err().field,
            "memory"
        );
        assert_eq!(
            with(|c| c.extra = vec!["qos=high".into()])
                .unwrap_err()
                .field,
            "extra"
        );
        assert_eq!(
            with(|c| c.parallel = Some(0)).unwrap_err().field,
            "parallel"
        );
        assert_eq!(
            with(|c| c.time = Some("2h".into())).unwrap_err().field,
            "time"
        );
    }
}
