//! Metrics: the `<NAME>_LINE_COUNT` / `<NAME>_LINE_TOLERANCE` pairs of a
//! baseline, checked against files of a git tree or a working directory.
use super::*;

impl Baseline {
    /// The value of `key`, if assigned.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    /// Writes the baseline back as shell. Variables keep their line numbers
    /// where possible (blank lines pad the gaps), so that
    /// `parse(&b.render(), &b.source) == Ok(b)` for every parsed baseline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = 1usize;
        for (key, value, at) in &self.vars {
            while line < *at {
                out.push('\n');
                line += 1;
            }
            let quoted = quote_value(value);
            line += 1 + quoted.matches('\n').count();
            out.push_str(key);
            out.push('=');
            out.push_str(&quoted);
            out.push('\n');
        }
        out
    }

    /// Pairs each `<NAME>_LINE_COUNT` with its `<NAME>_LINE_TOLERANCE`
    /// (0 when absent), in file order.
    pub fn metrics(&self) -> Result<Vec<Metric>, BaselineError> {
        let number = |key: &str, value: &str, line: usize| -> Result<u64, BaselineError> {
            let v = value.trim();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BaselineError::NotNumeric {
                    file: self.source.clone(),
                    key: key.to_string(),
                    value: value.to_string(),
                    line,
                });
            }
            v.parse::<u64>().map_err(|_| BaselineError::NotNumeric {
                file: self.source.clone(),
                key: key.to_string(),
                value: value.to_string(),
                line,
            })
        };
        let mut metrics = Vec::new();
        for (key, value, line) in &self.vars {
            if let Some(name) = key.strip_suffix("_LINE_COUNT").filter(|n| !n.is_empty()) {
                let expected = number(key, value, *line)?;
                let tol_key = format!("{name}_LINE_TOLERANCE");
                let tolerance = match self.vars.iter().find(|(k, _, _)| *k == tol_key) {
                    Some((k, v, l)) => number(k, v, *l)?,
                    None => 0,
                };
                metrics.push(Metric {
                    name: name.to_string(),
                    expected,
                    tolerance,
                    line: *line,
                });
            } else if let Some(name) = key
                .strip_suffix("_LINE_TOLERANCE")
                .filter(|n| !n.is_empty())
            {
                let count_key = format!("{name}_LINE_COUNT");
                if self.get(&count_key).is_none() {
                    return Err(BaselineError::OrphanTolerance {
                        file: self.source.clone(),
                        key: key.clone(),
                        name: name.to_string(),
                        line: *line,
                    });
                }
            }
        }
        Ok(metrics)
    }
}

/// The file a metric name counts: the mapping first, then the built-in
/// `MOSAIC_UI` → `mosaic_ui/index.html` and `FRONTEND` → `frontend/index.html`.
pub fn default_file_for(name: &str, mapping: &BTreeMap<String, String>) -> Option<String> {
    if let Some(f) = mapping.get(name) {
        return Some(f.clone());
    }
    match name {
        "MOSAIC_UI" => Some("mosaic_ui/index.html".to_string()),
        "FRONTEND" => Some("frontend/index.html".to_string()),
        _ => None,
    }
}

/// A line count as `wc -l` gives it: the number of newline bytes.
pub fn line_count(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// One metric checked against one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricCheck {
    pub metric: Metric,
    /// The file counted, when the name maps to one.
    pub file: Option<String>,
    /// Its line count, when it could be read.
    pub actual: Option<u64>,
    pub within: bool,
    /// One line saying why the check failed; `None` when within.
    pub reason: Option<String>,
}

/// A whole baseline check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineReport {
    /// Path of the baseline file checked.
    pub baseline_path: String,
    pub checks: Vec<MetricCheck>,
}

impl BaselineReport {
    /// True when every metric is within tolerance (a baseline without
    /// metrics is trivially within).
    pub fn within(&self) -> bool {
        self.checks.iter().all(|c| c.within)
    }

    /// The failing checks' reasons, one line each, prefixed with the name.
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.within)
            .map(|c| {
                format!(
                    "{}: {}",
                    c.metric.name,
                    c.reason.as_deref().unwrap_or("outside tolerance")
                )
            })
            .collect()
    }
}

/// What reading a counted file gave.
pub(super) enum Fetched {
    Bytes(Vec<u8>),
    Absent(String),
}

pub(super) fn check_metrics(
    metrics: Vec<Metric>,
    mapping: &BTreeMap<String, String>,
    mut fetch: impl FnMut(&str) -> Result<Fetched, BaselineError>,
) -> Result<Vec<MetricCheck>, BaselineError> {
    let mut checks = Vec::new();
    for metric in metrics {
        let Some(file) = default_file_for(&metric.name, mapping) else {
            checks.push(MetricCheck {
                reason: Some(format!(
                    "no file is mapped for {} (add it under [baseline.files])",
                    metric.name
                )),
                metric,
                file: None,
                actual: None,
                within: false,
            });
            continue;
        };
        let check = match fetch(&file)? {
            Fetched::Absent(why) => MetricCheck {
                metric,
                file: Some(file),
                actual: None,
                within: false,
                reason: Some(why),
            },
            Fetched::Bytes(bytes) => {
                let actual = line_count(&bytes);
                let within = metric.within(actual);
                let reason = (!within).then(|| {
                    let off = actual.abs_diff(metric.expected);
                    let dir = if actual > metric.expected {
                        "over"
                    } else {
                        "under"
                    };
                    format!(
                        "{file} has {actual} lines, expected {} ± {} ({off} {dir})",
                        metric.expected, metric.tolerance
                    )
                });
                MetricCheck {
                    metric,
                    file: Some(file),
                    actual: Some(actual),
                    within,
                    reason,
                }
            }
        };
        checks.push(check);
    }
    Ok(checks)
}

/// Reads the blob at `path` in `tree`; the inner `Err` says why there is
/// no such file.
pub(super) fn blob_in_tree(
    repo: &git2::Repository,
    tree: &git2::Tree,
    path: &str,
) -> Result<Result<Vec<u8>, String>, git2::Error> {
    let entry = match tree.get_path(Path::new(path)) {
        Ok(e) => e,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Ok(Err(format!("{path} is not in the tree")));
        }
        Err(e) => return Err(e),
    };
    if entry.kind() != Some(git2::ObjectType::Blob) {
        return Ok(Err(format!("{path} is not a file in the tree")));
    }
    let blob = repo.find_blob(entry.id())?;
    Ok(Ok(blob.content().to_vec()))
}

/// Checks the baseline as committed in `tree`, reading the baseline file and
/// every counted file straight from the tree (no checkout).
pub fn check_tree(
    repo: &git2::Repository,
    tree: &git2::Tree,
    baseline_path: &str,
    mapping: &BTreeMap<String, String>,
) -> Result<BaselineReport, BaselineError> {
    let git_err = |file: &str, e: git2::Error| BaselineError::Read {
        file: file.to_string(),
        message: e.message().to_string(),
    };
    let text =
        match blob_in_tree(repo, tree, baseline_path).map_err(|e| git_err(baseline_path, e))? {
            Ok(bytes) => bytes,
            Err(_) => {
                return Err(BaselineError::Missing {
                    file: baseline_path.to_string(),
                    where_: format!("not in tree {}", short_sha(&tree.id().to_string())),
                });
            }
        };
    let baseline = parse_bytes(&text, baseline_path)?;
    let checks = check_metrics(baseline.metrics()?, mapping, |file| {
        Ok(
            match blob_in_tree(repo, tree, file).map_err(|e| git_err(file, e))? {
                Ok(b) => Fetched::Bytes(b),
                Err(why) => Fetched::Absent(why),
            },
        )
    })?;
    Ok(BaselineReport {
        baseline_path: baseline_path.to_string(),
        checks,
    })
}

/// Checks the baseline in a working directory rooted at `root`.
pub fn check_dir(
    root: &Path,
    baseline_path: &str,
    mapping: &BTreeMap<String, String>,
) -> Result<BaselineReport, BaselineError> {
    let text = match std::fs::read(root.join(baseline_path)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BaselineError::Missing {
                file: baseline_path.to_string(),
                where_: format!("not in {}", root.display()),
            });
        }
        Err(e) => {
            return Err(BaselineError::Read {
                file: baseline_path.to_string(),
                message: e.to_string(),
            });
        }
    };
    let baseline = parse_bytes(&text, baseline_path)?;
    let checks = check_metrics(baseline.metrics()?, mapping, |file| {
        let full = root.join(file);
        if full.is_dir() {
            return Ok(Fetched::Absent(format!("{file} is a directory")));
        }
        match std::fs::read(&full) {
            Ok(b) => Ok(Fetched::Bytes(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Fetched::Absent(format!("{file} does not exist")))
            }
            Err(e) => Err(BaselineError::Read {
                file: file.to_string(),
                message: e.to_string(),
            }),
        }
    })?;
    Ok(BaselineReport {
        baseline_path: baseline_path.to_string(),
        checks,
    })
}
