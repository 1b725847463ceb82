//! Metric families and their rendering.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Seconds: from a millisecond-scale hand-off to a several-minute VM boot under TCG.
pub const LATENCY_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Every metric of one process. Cheap to clone; metrics handed out stay registered.
#[derive(Clone, Default)]
pub struct Registry {
    series: Arc<Mutex<Vec<Series>>>,
}

struct Series {
    name: String,
    help: String,
    labels: Vec<(String, String)>,
    value: Value,
}

enum Value {
    Counter(Arc<AtomicU64>),
    Gauge(Arc<AtomicI64>),
    Histogram(Arc<HistogramCells>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Counter(_) => "counter",
            Value::Gauge(_) => "gauge",
            Value::Histogram(_) => "histogram",
        }
    }
}

/// A count that only goes up.
#[derive(Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (running VMs, free slots).
#[derive(Clone)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub fn add(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct HistogramCells {
    bounds: Vec<f64>,
    /// Per bucket, not cumulative; rendering sums them.
    counts: Vec<AtomicU64>,
    /// The sum in microseconds-of-a-unit, so it fits an atomic integer.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// Observations sorted into buckets (latencies in seconds).
#[derive(Clone)]
pub struct Histogram(Arc<HistogramCells>);

impl Histogram {
    pub fn observe(&self, value: f64) {
        let value = if value.is_finite() && value > 0.0 { value } else { 0.0 };
        let cells = &self.0;
        let slot = cells.bounds.iter().position(|bound| value <= *bound).unwrap_or(cells.bounds.len());
        cells.counts[slot].fetch_add(1, Ordering::Relaxed);
        cells.sum_micros.fetch_add((value * 1_000_000.0) as u64, Ordering::Relaxed);
        cells.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, duration: std::time::Duration) {
        self.observe(duration.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.series.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Registry").field("series", &count).finish()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The counter `name{labels}`; asking again for the same series gives the same counter.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        let value = self.series(name, help, labels, || Value::Counter(Arc::new(AtomicU64::new(0))));
        match value {
            Value::Counter(cell) => Counter(cell),
            // A name registered as another kind: a programming error; count into a detached cell.
            _ => Counter(Arc::new(AtomicU64::new(0))),
        }
    }

    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        match self.series(name, help, labels, || Value::Gauge(Arc::new(AtomicI64::new(0)))) {
            Value::Gauge(cell) => Gauge(cell),
            _ => Gauge(Arc::new(AtomicI64::new(0))),
        }
    }

    /// A histogram with the given upper bounds (ascending; `+Inf` is implied).
    pub fn histogram(&self, name: &str, help: &str, labels: &[(&str, &str)], bounds: &[f64]) -> Histogram {
        match self.series(name, help, labels, || Value::Histogram(histogram_cells(bounds))) {
            Value::Histogram(cells) => Histogram(cells),
            _ => Histogram(histogram_cells(bounds)),
        }
    }

    fn series(&self, name: &str, help: &str, labels: &[(&str, &str)], make: impl FnOnce() -> Value) -> Value {
        let labels: Vec<(String, String)> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = series.iter().find(|s| s.name == name && s.labels == labels) {
            return found.value.share();
        }
        let value = make();
        let shared = value.share();
        series.push(Series { name: name.to_owned(), help: help.to_owned(), labels, value });
        shared
    }

    /// The Prometheus text exposition of every series, families in registration order.
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&str> = Vec::new();
        for s in series.iter() {
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
        let mut out = String::new();
        for name in names {
            let family: Vec<&Series> = series.iter().filter(|s| s.name == name).collect();
            let first = family[0];
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&first.help));
            let _ = writeln!(out, "# TYPE {name} {}", first.value.kind());
            for s in family {
                render_series(&mut out, s);
            }
        }
        out
    }
}

fn histogram_cells(bounds: &[f64]) -> Arc<HistogramCells> {
    let mut bounds: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
    Arc::new(HistogramCells { bounds, counts, sum_micros: AtomicU64::new(0), count: AtomicU64::new(0) })
}

impl Value {
    fn share(&self) -> Value {
        match self {
            Value::Counter(cell) => Value::Counter(cell.clone()),
            Value::Gauge(cell) => Value::Gauge(cell.clone()),
            Value::Histogram(cells) => Value::Histogram(cells.clone()),
        }
    }
}

fn render_series(out: &mut String, s: &Series) {
    match &s.value {
        Value::Counter(cell) => {
            let _ = writeln!(out, "{}{} {}", s.name, label_text(&s.labels, None), cell.load(Ordering::Relaxed));
        }
        Value::Gauge(cell) => {
            let _ = writeln!(out, "{}{} {}", s.name, label_text(&s.labels, None), cell.load(Ordering::Relaxed));
        }
        Value::Histogram(cells) => {
            let mut cumulative = 0;
            for (i, bound) in cells.bounds.iter().enumerate() {
                cumulative += cells.counts[i].load(Ordering::Relaxed);
                let le = format!("{bound}");
                let _ = writeln!(out, "{}_bucket{} {cumulative}", s.name, label_text(&s.labels, Some(&le)));
            }
            cumulative += cells.counts[cells.bounds.len()].load(Ordering::Relaxed);
            let _ = writeln!(out, "{}_bucket{} {cumulative}", s.name, label_text(&s.labels, Some("+Inf")));
            let sum = cells.sum_micros.load(Ordering::Relaxed) as f64 / 1_000_000.0;
            let _ = writeln!(out, "{}_sum{} {sum}", s.name, label_text(&s.labels, None));
            let _ = writeln!(
                out,
                "{}_count{} {}",
                s.name,
                label_text(&s.labels, None),
                cells.count.load(Ordering::Relaxed)
            );
        }
    }
}

fn label_text(labels: &[(String, String)], le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_value(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

fn escape_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}
