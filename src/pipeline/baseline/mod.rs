//! The baseline file (`deployment/deploy_baseline.env`) and the snapshot.
//!
//! The baseline is a shell file of `KEY=VALUE` lines that the project's own
//! scripts `source`; this module reads the same subset of shell a person
//! writes there (comments, `export`, single and double quotes, a UTF-8 BOM,
//! CRLF line ends) and refuses, with one sentence naming file and line,
//! anything the shell would read differently (expansions, operators).
//!
//! `<NAME>_LINE_COUNT` / `<NAME>_LINE_TOLERANCE` pairs become [`Metric`]s,
//! which are checked against files read straight from a git tree
//! ([`check_tree`]) or a working directory ([`check_dir`]). The snapshot is
//! that check plus the diff of the watched files against the golden build
//! ([`diff_watched`]), rendered as Markdown by [`render_snapshot_md`].

use crate::pipeline::common::short_sha;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Something about a baseline that could not be read or checked. Each
/// message is one sentence naming the file and, where there is one, the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    /// A line the parser cannot read.
    #[error("{file} line {line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    /// The same key assigned twice.
    #[error("{file} line {line}: {key} is set again here, already set on line {first_line}")]
    Duplicate {
        file: String,
        key: String,
        first_line: usize,
        line: usize,
    },
    /// A count or tolerance that is not a whole number.
    #[error("{file} line {line}: {key} must be a whole number, found {value:?}")]
    NotNumeric {
        file: String,
        key: String,
        value: String,
        line: usize,
    },
    /// A tolerance without the count it belongs to.
    #[error("{file} line {line}: {key} has no matching {name}_LINE_COUNT")]
    OrphanTolerance {
        file: String,
        key: String,
        name: String,
        line: usize,
    },
    /// The baseline file itself is absent.
    #[error("{file} is not there ({where_})")]
    Missing { file: String, where_: String },
    /// Reading the baseline failed (I/O or git).
    #[error("cannot read {file}: {message}")]
    Read { file: String, message: String },
}

impl BaselineError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

/// A parsed baseline file: every assignment in file order, with its 1-based
/// line number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Name used in error messages (the file's path).
    pub source: String,
    /// `(key, value, line)` in file order.
    pub vars: Vec<(String, String, usize)>,
}

/// One `<NAME>_LINE_COUNT` with its tolerance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// `NAME` without the `_LINE_COUNT` suffix, e.g. `MOSAIC_UI`.
    pub name: String,
    pub expected: u64,
    /// 0 when no `<NAME>_LINE_TOLERANCE` is given.
    pub tolerance: u64,
    /// Line of the `_LINE_COUNT` assignment.
    pub line: usize,
}

impl Metric {
    /// Whether `actual` lies within `expected ± tolerance`.
    pub fn within(&self, actual: u64) -> bool {
        actual.abs_diff(self.expected) <= self.tolerance
    }
}

const BOM: char = '\u{feff}';

/// Parses baseline bytes, reporting invalid UTF-8 with its line.
pub fn parse_bytes(bytes: &[u8], source: &str) -> Result<Baseline, BaselineError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, source),
        Err(e) => {
            let at = e.valid_up_to();
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            let line_start = bytes[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            Err(BaselineError::Syntax {
                file: source.to_string(),
                line,
                message: format!("invalid UTF-8 at byte {} of the line", at - line_start + 1),
            })
        }
    }
}

/// Parses the text of a baseline file. `source` names the file in errors.
pub fn parse(text: &str, source: &str) -> Result<Baseline, BaselineError> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser {
        chars: &chars,
        pos: 0,
        line: 1,
        source,
    };
    let mut vars: Vec<(String, String, usize)> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    while !p.eof() {
        if let Some((key, value, line)) = p.statement()? {
            if let Some(&first_line) = seen.get(&key) {
                return Err(BaselineError::Duplicate {
                    file: source.to_string(),
                    key,
                    first_line,
                    line,
                });
            }
            seen.insert(key.clone(), line);
            vars.push((key, value, line));
        }
    }
    Ok(Baseline {
        source: source.to_string(),
        vars,
    })
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
    line: usize,
    source: &'a str,
}

fn is_key_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.pos >= self.chars.len()
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn peek_at(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }
    /// At `\n`, `\r\n` or the end of input.
    fn at_line_end(&self) -> bool {
        match self.peek() {
            None | Some('\n') => true,
            Some('\r') => self.peek_at(1) == Some('\n'),
            _ => false,
        }
    }
    /// Consumes a line end (if any) and counts it.
    fn eat_line_end(&mut self) {
        match self.peek() {
            Some('\n') => {
                self.pos += 1;
                self.line += 1;
            }
            Some('\r') if self.peek_at(1) == Some('\n') => {
                self.pos += 2;
                self.line += 1;
            }
            _ => {}
        }
    }
    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
    }
    fn skip_to_line_end(&mut self) {
        while !self.at_line_end() {
            self.pos += 1;
        }
    }
    fn err(&self, line: usize, message: String) -> BaselineError {
        BaselineError::Syntax {
            file: self.source.to_string(),
            line,
            message,
        }
    }
    /// The rest of the current line, shortened, for messages.
    fn rest_of_line(&self) -> String {
        let mut s = String::new();
        let mut i = self.pos;
        while let Some(&c) = self.chars.get(i) {
            if c == '\n' || c == '\r' {
                break;
            }
            if s.chars().count() >= 40 {
                s.push('…');
                break;
            }
            s.push(if c == '\0' { '␀' } else { c });
            i += 1;
        }
        s
    }

    /// Reads one line (or, with a quoted multi-line value, several).
    fn statement(&mut self) -> Result<Option<(String, String, usize)>, BaselineError> {
        let line = self.line;
        self.skip_blanks();
        if self.at_line_end() {
            self.eat_line_end();
            return Ok(None);
        }
        if self.peek() == Some('#') {
            self.skip_to_line_end();
            self.eat_line_end();
            return Ok(None);
        }
        // `export KEY=VALUE` (or a bare `export KEY`, which sets nothing).
        let exported = self.starts_with_word("export");
        if exported {
            self.pos += "export".len();
            self.skip_blanks();
        }
        if !self.peek().is_some_and(is_key_start) {
            let found = self.rest_of_line();
            return Err(self.err(line, format!("expected KEY=VALUE but found {found:?}")));
        }
        let start = self.pos;
        while self.peek().is_some_and(is_key_char) {
            self.pos += 1;
        }
        let key: String = self.chars[start..self.pos].iter().collect();
        match self.peek() {
            Some('=') => self.pos += 1,
            _ if exported && self.rest_is_blank_or_comment() => {
                self.skip_to_line_end();
                self.eat_line_end();
                return Ok(None);
            }
            Some(c) if is_blank(c) => {
                self.skip_blanks();
                if self.peek() == Some('=') {
                    return Err(self.err(
                        line,
                        format!("spaces around '=' are not allowed in the assignment of {key}"),
                    ));
                }
                return Err(self.err(line, format!("expected '=' after {key}")));
            }
            _ => {
                let found = self.rest_of_line();
                let message = if found.is_empty() {
                    format!("{key} has no '=' (expected KEY=VALUE)")
                } else {
                    format!("expected '=' after {key} but found {found:?}")
                };
                return Err(self.err(line, message));
            }
        }
        let value = self.value(&key, line)?;
        // After the value: blanks, then an optional comment, then line end.
        self.skip_blanks();
        if self.peek() == Some('#') {
            self.skip_to_line_end();
        }
        if !self.at_line_end() {
            let found = self.rest_of_line();
            return Err(self.err(
                self.line,
                format!("unexpected {found:?} after the value of {key} (quote values that contain spaces)"),
            ));
        }
        self.eat_line_end();
        Ok(Some((key, value, line)))
    }

    fn starts_with_word(&self, word: &str) -> bool {
        let n = word.chars().count();
        word.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
            && self.peek_at(n).is_some_and(is_blank)
    }

    fn rest_is_blank_or_comment(&self) -> bool {
        let mut i = self.pos;
        while let Some(&c) = self.chars.get(i) {
            if is_blank(c) {
                i += 1;
            } else {
                return c == '#'
                    || c == '\n'
                    || (c == '\r' && self.chars.get(i + 1) == Some(&'\n'));
            }
        }
        true
    }

    /// Reads a shell word: unquoted runs, '…' and "…" segments, concatenated.
    fn value(&mut self, key: &str, line: usize) -> Result<String, BaselineError> {
        let mut out = String::new();
        loop {
            if self.at_line_end() {
                return Ok(out);
            }
            let Some(c) = self.peek() else {
                return Ok(out);
            };
            match c {
                ' ' | '\t' => return Ok(out),
                '\0' => {
                    return Err(self.err(self.line, format!("NUL byte in the value of {key}")));
                }
                '\'' => {
                    let open_line = self.line;
                    self.pos += 1;
                    loop {
                        match self.peek() {
                            None => {
                                return Err(self.err(
                                    open_line,
                                    format!("unterminated single quote in {key}"),
                                ));
                            }
                            Some('\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some('\0') => {
                                return Err(
                                    self.err(self.line, format!("NUL byte in the value of {key}"))
                                );
                            }
                            Some(ch) => {
                                if ch == '\n' {
                                    self.line += 1;
                                }
                                out.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                }
                '"' => {
                    let open_line = self.line;
                    self.pos += 1;
                    loop {
                        match self.peek() {
                            None => {
                                return Err(self.err(
                                    open_line,
                                    format!("unterminated double quote in {key}"),
                                ));
                            }
                            Some('"') => {
                                self.pos += 1;
                                break;
                            }
                            Some('\0') => {
                                return Err(
                                    self.err(self.line, format!("NUL byte in the value of {key}"))
                                );
                            }
                            Some('\\') => match self.peek_at(1) {
                                Some(n @ ('"' | '\\' | '$' | '`')) => {
                                    out.push(n);
                                    self.pos += 2;
                                }
                                Some('\n') => {
                                    // Line continuation: both characters vanish.
                                    self.pos += 2;
                                    self.line += 1;
                                }
                                _ => {
                                    out.push('\\');
                                    self.pos += 1;
                                }
                            },
                            Some('$') if self.expansion_follows() => {
                                return Err(self.expansion_error(key, line));
                            }
                            Some('`') => return Err(self.expansion_error(key, line)),
                            Some(ch) => {
                                if ch == '\n' {
                                    self.line += 1;
                                }
                                out.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                }
                '\\' => match self.peek_at(1) {
                    None => {
                        return Err(self.err(
                            self.line,
                            format!("the value of {key} ends with a lone backslash"),
                        ));
                    }
                    Some('\n') => {
                        return Err(self.err(
                            self.line,
                            format!("line continuation in the value of {key} is not supported"),
                        ));
                    }
                    Some('\0') => {
                        return Err(self.err(self.line, format!("NUL byte in the value of {key}")));
                    }
                    Some(n) => {
                        out.push(n);
                        self.pos += 2;
                    }
                },
                '$' if self.expansion_follows() => return Err(self.expansion_error(key, line)),
                '`' => return Err(self.expansion_error(key, line)),
                ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                    return Err(self.err(
                        self.line,
                        format!("unquoted '{c}' in the value of {key} (quote the value)"),
                    ));
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `$` followed by something the shell would expand.
    fn expansion_follows(&self) -> bool {
        self.peek_at(1).is_some_and(|n| {
            n == '{' || n == '(' || is_key_start(n) || n.is_ascii_digit() || "@*#?$!-".contains(n)
        })
    }

    fn expansion_error(&self, key: &str, line: usize) -> BaselineError {
        self.err(
            line.max(self.line),
            format!(
                "the value of {key} uses shell expansion, which guardrail does not evaluate (write the value literally or in single quotes)"
            ),
        )
    }
}

/// Whether a value can be written without quotes.
fn is_plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:,+@%=".contains(c))
        && !value.starts_with('#')
}

/// Shell-quotes a value the way [`parse`] reads it back.
pub fn quote_value(value: &str) -> String {
    if value.is_empty() || is_plain(value) {
        return value.to_string();
    }
    let mut s = String::from("'");
    for c in value.chars() {
        if c == '\'' {
            s.push_str("'\\''");
        } else {
            s.push(c);
        }
    }
    s.push('\'');
    s
}

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
enum Fetched {
    Bytes(Vec<u8>),
    Absent(String),
}

fn check_metrics(
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
fn blob_in_tree(
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

/// How a watched file changed between two trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffStatus {
    Added,
    Deleted,
    Modified,
    Unchanged,
    /// In neither tree.
    Absent,
}

impl DiffStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffStatus::Added => "added",
            DiffStatus::Deleted => "deleted",
            DiffStatus::Modified => "modified",
            DiffStatus::Unchanged => "unchanged",
            DiffStatus::Absent => "absent",
        }
    }
}

/// The diff of one watched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    pub path: String,
    pub status: DiffStatus,
    /// Lines added / removed (0 for binary files).
    pub added: usize,
    pub removed: usize,
    /// Unified diff text, capped at [`PATCH_LINE_CAP`] lines with a note.
    pub patch: String,
}

/// The most patch lines kept per file.
pub const PATCH_LINE_CAP: usize = 2000;

/// Diffs the watched paths (files or directories) from `from` to `to`.
/// Returns one entry per watched path in `watch` order; a watched directory
/// yields one entry per changed file under it (or one `Unchanged` entry).
pub fn diff_watched(
    repo: &git2::Repository,
    from: &git2::Tree,
    to: &git2::Tree,
    watch: &[String],
) -> Result<Vec<FileDiff>, git2::Error> {
    if watch.is_empty() {
        return Ok(Vec::new());
    }
    let mut opts = git2::DiffOptions::new();
    for w in watch {
        opts.pathspec(w);
    }
    opts.ignore_submodules(true);
    let diff = repo.diff_tree_to_tree(Some(from), Some(to), Some(&mut opts))?;
    let present = |p: &str| {
        let path = Path::new(p);
        to.get_path(path).is_ok() || from.get_path(path).is_ok()
    };
    summarise(&diff, watch, present)
}

/// Diffs the watched paths from `from` to the files on disk in the working
/// tree (the index is not looked at). Untracked files under a watched path
/// count, with their lines as added; ignored files do not. Same shape as
/// [`diff_watched`].
pub fn diff_watched_workdir(
    repo: &git2::Repository,
    from: &git2::Tree,
    watch: &[String],
) -> Result<Vec<FileDiff>, git2::Error> {
    if watch.is_empty() {
        return Ok(Vec::new());
    }
    let mut opts = git2::DiffOptions::new();
    for w in watch {
        opts.pathspec(w);
    }
    opts.ignore_submodules(true)
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    let diff = repo.diff_tree_to_workdir(Some(from), Some(&mut opts))?;
    let workdir = repo.workdir().map(Path::to_path_buf);
    let present = |p: &str| {
        from.get_path(Path::new(p)).is_ok()
            || workdir
                .as_ref()
                .is_some_and(|w| w.join(p).symlink_metadata().is_ok())
    };
    summarise(&diff, watch, present)
}

/// One [`FileDiff`] per watched path (see [`diff_watched`]); `present` says
/// whether an unchanged watched path exists on either side.
fn summarise(
    diff: &git2::Diff,
    watch: &[String],
    present: impl Fn(&str) -> bool,
) -> Result<Vec<FileDiff>, git2::Error> {
    struct Acc {
        status: DiffStatus,
        added: usize,
        removed: usize,
        lines: Vec<String>,
        dropped: usize,
    }
    let mut order: Vec<String> = Vec::new();
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    for delta in diff.deltas() {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let status = match delta.status() {
            git2::Delta::Added | git2::Delta::Untracked => DiffStatus::Added,
            git2::Delta::Deleted => DiffStatus::Deleted,
            _ => DiffStatus::Modified,
        };
        if !acc.contains_key(&path) {
            order.push(path.clone());
        }
        acc.insert(
            path,
            Acc {
                status,
                added: 0,
                removed: 0,
                lines: Vec::new(),
                dropped: 0,
            },
        );
    }
    diff.print(git2::DiffFormat::Patch, |delta, _hunk, line| {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(a) = acc.get_mut(&path) else {
            return true;
        };
        let origin = line.origin();
        match origin {
            '+' => a.added += 1,
            '-' => a.removed += 1,
            _ => {}
        }
        let content = String::from_utf8_lossy(line.content());
        let mut text = match origin {
            '+' | '-' | ' ' => format!("{origin}{content}"),
            '=' | '>' | '<' => content.into_owned(),
            _ => content.into_owned(),
        };
        if text.ends_with('\n') {
            text.pop();
        }
        for l in text.split('\n') {
            if a.lines.len() < PATCH_LINE_CAP {
                a.lines.push(l.to_string());
            } else {
                a.dropped += 1;
            }
        }
        true
    })?;

    let finish = |path: &str, a: &Acc| {
        let mut patch = a.lines.join("\n");
        if !patch.is_empty() {
            patch.push('\n');
        }
        if a.dropped > 0 {
            let _ = writeln!(
                patch,
                "… {} more lines not shown (patch capped at {PATCH_LINE_CAP} lines)",
                a.dropped
            );
        }
        FileDiff {
            path: path.to_string(),
            status: a.status,
            added: a.added,
            removed: a.removed,
            patch,
        }
    };

    let mut claimed: Vec<bool> = vec![false; order.len()];
    let mut out = Vec::new();
    for w in watch {
        let w_trim = w.trim_end_matches('/');
        let mut any = false;
        for (i, path) in order.iter().enumerate() {
            let under = path == w_trim || path.starts_with(&format!("{w_trim}/"));
            if under && !claimed[i] {
                claimed[i] = true;
                any = true;
                out.push(finish(path, &acc[path]));
            } else if under {
                any = true;
            }
        }
        if !any {
            let status = if present(w_trim) {
                DiffStatus::Unchanged
            } else {
                DiffStatus::Absent
            };
            out.push(FileDiff {
                path: w_trim.to_string(),
                status,
                added: 0,
                removed: 0,
                patch: String::new(),
            });
        }
    }
    // Matched by a pathspec glob but not by plain path prefix.
    for (i, path) in order.iter().enumerate() {
        if !claimed[i] {
            out.push(finish(path, &acc[path]));
        }
    }
    Ok(out)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The snapshot document: metrics table, per-file counts and the patches.
/// Deterministic (no clock) so that it can be committed and compared.
pub fn render_snapshot_md(
    report: &BaselineReport,
    diffs: &[FileDiff],
    golden_tag: Option<&str>,
    branch: &str,
    commit: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Baseline snapshot: {}\n", cell(branch));
    let _ = writeln!(s, "- **Branch:** `{branch}`");
    let _ = writeln!(s, "- **Commit:** `{commit}`");
    match golden_tag {
        Some(t) => {
            let _ = writeln!(s, "- **Compared with:** `{t}` (golden build)");
        }
        None => {
            let _ = writeln!(
                s,
                "- **Compared with:** nothing — there is no prod tag yet, so no diff"
            );
        }
    }
    let verdict = if report.within() {
        "within tolerance"
    } else {
        "**OUTSIDE tolerance**"
    };
    let _ = writeln!(
        s,
        "- **Baseline:** `{}` — {verdict}\n",
        report.baseline_path
    );

    let _ = writeln!(s, "## Metrics\n");
    if report.checks.is_empty() {
        let _ = writeln!(s, "The baseline defines no `_LINE_COUNT` metrics.\n");
    } else {
        let _ = writeln!(
            s,
            "| metric | file | expected | tolerance | actual | result |"
        );
        let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | --- |");
        for c in &report.checks {
            let file = c
                .file
                .as_deref()
                .map_or_else(|| "—".to_string(), |f| format!("`{}`", cell(f)));
            let actual = c.actual.map_or_else(|| "—".to_string(), |a| a.to_string());
            let result = if c.within {
                "✅ within".to_string()
            } else {
                format!("❌ {}", cell(c.reason.as_deref().unwrap_or("outside")))
            };
            let _ = writeln!(
                s,
                "| {} | {file} | {} | {} | {actual} | {result} |",
                cell(&c.metric.name),
                c.metric.expected,
                c.metric.tolerance
            );
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Watched files\n");
    if diffs.is_empty() {
        let _ = writeln!(s, "No watched files.\n");
    } else {
        let _ = writeln!(s, "| file | status | + | − |");
        let _ = writeln!(s, "| --- | --- | ---: | ---: |");
        for d in diffs {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} |",
                cell(&d.path),
                d.status.as_str(),
                d.added,
                d.removed
            );
        }
        s.push('\n');
    }

    let changed: Vec<&FileDiff> = diffs.iter().filter(|d| !d.patch.is_empty()).collect();
    if !changed.is_empty() {
        let _ = writeln!(s, "## Diffs\n");
        for d in changed {
            let _ = writeln!(
                s,
                "### `{}` ({}, +{} −{})\n",
                d.path,
                d.status.as_str(),
                d.added,
                d.removed
            );
            let fence = "`".repeat(longest_backtick_run(&d.patch).max(2) + 1);
            let _ = writeln!(s, "{fence}diff");
            s.push_str(&d.patch);
            if !d.patch.ends_with('\n') {
                s.push('\n');
            }
            let _ = writeln!(s, "{fence}\n");
        }
    }
    s
}

fn longest_backtick_run(s: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}
