/// A confusion matrix, `counts[actual * classes + predicted]`, from which the classification
/// metrics are derived.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Confusion {
    classes: usize,
    counts: Vec<u64>,
}

impl Confusion {
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// A matrix of `classes` x `classes` counts, row-major by actual class.
    pub fn from_counts(classes: usize, counts: Vec<u64>) -> Self {
        assert_eq!(counts.len(), classes * classes, "a square matrix of counts");
        Self { classes, counts }
    }

    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn add(&mut self, predicted: &[i64], actual: &[i64]) {
        for (&p, &a) in predicted.iter().zip(actual) {
            self.counts[a as usize * self.classes + p as usize] += 1;
        }
    }

    pub fn count(&self, actual: usize, predicted: usize) -> u64 {
        self.counts[actual * self.classes + predicted]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        ratio(correct, self.total())
    }

    /// Per-class (precision, recall, F1); a class never predicted has precision 0.
    pub fn per_class(&self) -> Vec<(f64, f64, f64)> {
        (0..self.classes)
            .map(|c| {
                let tp = self.count(c, c);
                let predicted: u64 = (0..self.classes).map(|a| self.count(a, c)).sum();
                let actual: u64 = (0..self.classes).map(|p| self.count(c, p)).sum();
                let (precision, recall) = (ratio(tp, predicted), ratio(tp, actual));
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                (precision, recall, f1)
            })
            .collect()
    }

    /// Unweighted mean of the per-class F1 over the classes that occur.
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> = self
            .per_class()
            .into_iter()
            .enumerate()
            .filter(|(c, _)| {
                (0..self.classes).any(|p| self.count(*c, p) > 0 || self.count(p, *c) > 0)
            })
            .map(|(_, (_, _, f1))| f1)
            .collect();
        if present.is_empty() {
            0.0
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        // actual:    0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let mut c = Confusion::new(3);
        c.add(&[0, 0, 1, 1, 2, 2], &[0, 0, 0, 1, 1, 2]);
        assert_eq!(c.total(), 6);
        assert!((c.accuracy() - 4.0 / 6.0).abs() < 1e-12);
        let pc = c.per_class();
        // class 0: P=2/2, R=2/3; class 1: P=1/2, R=1/2; class 2: P=1/2, R=1/1.
        let f1 = |p: f64, r: f64| 2.0 * p * r / (p + r);
        assert!((pc[0].2 - f1(1.0, 2.0 / 3.0)).abs() < 1e-12);
        assert!((pc[1].2 - 0.5).abs() < 1e-12);
        assert!((pc[2].2 - f1(0.5, 1.0)).abs() < 1e-12);
        let expected = (f1(1.0, 2.0 / 3.0) + 0.5 + f1(0.5, 1.0)) / 3.0;
        assert!((c.macro_f1() - expected).abs() < 1e-12);
    }

    #[test]
    fn absent_classes_do_not_drag_macro_f1_down() {
        let mut c = Confusion::new(10);
        c.add(&[1, 1], &[1, 1]);
        assert_eq!(c.macro_f1(), 1.0);
        assert_eq!(Confusion::new(3).accuracy(), 0.0);
    }
}
