//! Configuration (SPEC §3): built-in defaults < the repository's
//! `guardrail.toml` < the user's own file (look and keys only) < flags.
//!
//! The defaults live in `assets/guardrail.default.toml`, embedded in the
//! binary, which documents every key. A file is first checked on its own
//! (unknown keys, wrong types, bad durations are reported with file, line and
//! key), then merged table by table over the defaults.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// The embedded default configuration, also printed by `guardrail default-config`.
pub const DEFAULT_TOML: &str = include_str!("../../assets/guardrail.default.toml");

/// The repository's configuration file name.
pub const FILE_NAME: &str = "guardrail.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One sentence naming file, line and key.
    #[error("{file} line {line}, key `{key}`: {message}")]
    Invalid {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    #[error("{file} could not be read: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

/// A duration written as `500ms`, `30s`, `15m`, `2h` or `1d`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn parse(s: &str) -> Result<Dur, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{s}` has no unit (use e.g. 30s, 15m, 1h)"))?;
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a duration (use e.g. 30s, 15m, 1h)"))?;
        let ms = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(format!("`{s}` is not a duration (use e.g. 30s, 15m, 1h)")),
        };
        n.checked_mul(ms)
            .map(|ms| Dur(Duration::from_millis(ms)))
            .ok_or_else(|| format!("`{s}` is too long a duration"))
    }
    /// `None` for a zero duration ("off").
    pub fn nonzero(self) -> Option<Duration> {
        (!self.0.is_zero()).then_some(self.0)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            write!(f, "0s")
        } else if ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A size in bytes written as `500B`, `64KiB`, `100MiB`, `2GiB` (or the
/// decimal `KB`, `MB`, `GB`, `TB`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Size(pub u64);

impl Size {
    pub fn parse(s: &str) -> Result<Size, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{s}` has no unit (use e.g. 100MiB, 2GiB)"))?;
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a size (use e.g. 100MiB, 2GiB)"))?;
        let mul: u64 = match unit.trim() {
            "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            _ => return Err(format!("`{s}` is not a size (use e.g. 100MiB, 2GiB)")),
        };
        n.checked_mul(mul)
            .map(Size)
            .ok_or_else(|| format!("`{s}` is too large a size"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, m) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if b >= m && b.is_multiple_of(m) {
                return write!(f, "{}{unit}", b / m);
            }
        }
        write!(f, "{b}B")
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Size::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub project: Project,
    pub baseline: BaselineCfg,
    pub scripts: Scripts,
    pub playbook: Playbook,
    pub authority: Authority,
    pub live: Live,
    pub evidence: Evidence,
    pub backup: BackupCfg,
    pub alerts: Alerts,
    pub drill: DrillCfg,
    pub team: TeamCfg,
    /// Values of the working tree or the user's file that were ignored
    /// (authority, the main branch), one line each; never read from a file.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Project {
    pub name: String,
    pub main_branch: String,
    pub tag_prefix: String,
    pub bundle_dir: String,
    pub archive: Vec<String>,
    pub backups_dir: String,
    pub release_log_dir: String,
    pub rollout_log: String,
    pub protocol_audit_log: String,
    pub watch: Vec<String>,
    pub timezone: TimeZone,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum TimeZone {
    #[default]
    #[serde(rename = "UTC")]
    Utc,
    #[serde(rename = "local")]
    Local,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineCfg {
    pub file: String,
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scripts {
    pub gate: String,
    pub snapshot: String,
    pub deploy: String,
    pub verify: String,
    pub rollback: String,
    /// Run in the checkout before the gate (e.g. a fresh site backup); empty: none.
    pub prepare: String,
    /// Let scripts `git push`; refused by git itself unless true.
    pub allow_push: bool,
    pub timeout: Dur,
    pub idle_timeout: Dur,
    pub grace: Dur,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checkout {
    #[default]
    Worktree,
    InPlace,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    Ask,
    Auto,
    Never,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Playbook {
    pub checkout: Checkout,
    pub push_tags: bool,
    pub rollback_on_failure: OnFailure,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Authority {
    pub release_managers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Live {
    pub url: String,
    pub publish_dir: String,
    pub poll: Dur,
    pub deadline: Dur,
    pub request_timeout: Dur,
    /// Link-local and cloud metadata addresses in `url` are refused unless true.
    pub allow_private: bool,
    /// Files of the bundle (relative to it) the built-in publish stamps
    /// with the BUILD_ID; `index.html` is its top page.
    pub stamp: Vec<String>,
    pub check: Vec<LiveCheck>,
}

/// One `[[live.check]]`: a GET of `path` and what the answer must satisfy.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveCheck {
    pub name: String,
    pub path: String,
    pub status: Option<u16>,
    pub contains: Vec<String>,
    pub line_count: Option<String>,
    pub build_id: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Evidence {
    pub require: Vec<EvidenceRequire>,
    /// An evidence file larger than this is refused.
    pub max_file: Size,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupCfg {
    /// A backup whose files unpack to more than this is refused.
    pub max_unpacked: Size,
}

/// Written by `guardrail drill` into its sandbox only: the token that,
/// matched by the one in the sandbox's state directory, makes it a drill.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrillCfg {
    pub token: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceRequire {
    pub name: String,
    pub glob: String,
    pub min: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alerts {
    pub command: String,
    pub webhook: String,
    pub timeout: Dur,
}

/// Team mode (SPEC §10): the lock, audit chain and live record on a git
/// remote. An empty `remote` is single-box mode.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeamCfg {
    pub remote: String,
    /// How long a team lock holds without renewal (the holder renews it
    /// every third of this while its job runs).
    pub lease: Dur,
    /// How long one `git` call to the team remote may take before it is
    /// ended and the remote counts as unreachable (a remote that accepts a
    /// connection and never answers must not hang a rollback).
    pub timeout: Dur,
    /// Set by `--offline` on the command line, never read from a file.
    #[serde(skip)]
    pub offline: bool,
}

/// The user's own file: look and keys only, never authority.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    pub ui: Ui,
    /// Action name → key, e.g. `rollback = "ctrl-b"`, `gate = "G"`.
    pub keys: BTreeMap<String, String>,
    /// Authority keys found in the file and ignored, one line each.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ui {
    /// `theme = "light"`, or a `[ui.theme]` table: `name` (the built-in
    /// theme to start from) and a colour per style.
    pub theme: ThemeSetting,
    pub mouse: bool,
    /// How the evidence preview draws a picture (see [`Images`]).
    pub images: Images,
}

impl Default for Ui {
    fn default() -> Self {
        Ui {
            theme: ThemeSetting::default(),
            mouse: true,
            images: Images::default(),
        }
    }
}

/// `[ui] images`: the terminal image protocol of the evidence preview.
/// `auto` decides from the environment (never by asking the terminal);
/// the others force one; `halfblocks` draws with `▀` and colours, which
/// every terminal shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Images {
    #[default]
    Auto,
    Kitty,
    Sixel,
    Iterm2,
    Halfblocks,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Theme {
    #[default]
    Default,
    Mono,
    Light,
    HighContrast,
}

impl Theme {
    /// The names written in the user's file.
    pub const NAMES: &'static str = "default, mono, light, high-contrast";

    pub fn from_name(s: &str) -> Option<Theme> {
        Some(match s {
            "default" => Theme::Default,
            "mono" => Theme::Mono,
            "light" => Theme::Light,
            "high-contrast" => Theme::HighContrast,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Theme::Default => "default",
            Theme::Mono => "mono",
            Theme::Light => "light",
            Theme::HighContrast => "high-contrast",
        }
    }
}

/// The styles of a theme whose colours `[ui.theme]` may set.
pub const THEME_STYLES: [&str; 13] = [
    "title",
    "header",
    "bold",
    "dim",
    "key",
    "ok",
    "warn",
    "bad",
    "border",
    "focus_border",
    "selected",
    "selected_unfocused",
    "column_header",
];

/// A colour written in `[ui.theme]`: one of the 16 ANSI names, a palette
/// index 0–255, or `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeColour {
    /// ANSI colour 0–15 (black, red, …, white).
    Ansi(u8),
    Indexed(u8),
    Rgb(u8, u8, u8),
}

const ANSI_NAMES: [&str; 16] = [
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "gray",
    "darkgray",
    "lightred",
    "lightgreen",
    "lightyellow",
    "lightblue",
    "lightmagenta",
    "lightcyan",
    "white",
];

impl ThemeColour {
    pub fn parse(s: &str) -> Result<ThemeColour, String> {
        let t = s.trim().to_ascii_lowercase().replace(['_', '-', ' '], "");
        let t = t.replace("grey", "gray");
        if let Some(i) = ANSI_NAMES.iter().position(|n| *n == t) {
            return Ok(ThemeColour::Ansi(i as u8));
        }
        if let Some(hex) = t.strip_prefix('#') {
            if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                let v = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
                return Ok(ThemeColour::Rgb(v(0), v(2), v(4)));
            }
        } else if let Ok(i) = t.parse::<u8>() {
            return Ok(ThemeColour::Indexed(i));
        }
        Err(format!(
            "`{s}` is not a colour (use a name such as red or lightblue, a palette index 0-255, or #rrggbb)"
        ))
    }
}

/// The colours `[ui.theme]` gives one style: a string sets the foreground,
/// an inline table `{ fg = …, bg = … }` either or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StyleColours {
    pub fg: Option<ThemeColour>,
    pub bg: Option<ThemeColour>,
}

/// `[ui] theme`: a built-in theme and the colours the user set over it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThemeSetting {
    pub name: Theme,
    /// `name` and style names → the value as written in `[ui.theme]`
    /// (checked by [`UserConfig::from_text`]).
    pub raw: toml::Table,
    /// Style name → its colours, filled from `raw` once checked.
    pub colours: BTreeMap<String, StyleColours>,
}

impl PartialEq<Theme> for ThemeSetting {
    fn eq(&self, other: &Theme) -> bool {
        self.name == *other
    }
}

impl<'de> Deserialize<'de> for ThemeSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};
        #[derive(Clone, Copy)]
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ThemeSetting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    f,
                    "a theme name ({}) or a table of style colours",
                    Theme::NAMES
                )
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<ThemeSetting, E> {
                let name = Theme::from_name(s).ok_or_else(|| {
                    E::custom(format!("unknown theme `{s}` (use {})", Theme::NAMES))
                })?;
                Ok(ThemeSetting {
                    name,
                    ..ThemeSetting::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<ThemeSetting, A::Error> {
                let mut out = ThemeSetting::default();
                while let Some(k) = m.next_key::<String>()? {
                    // `name` too is checked by `check`, where the error
                    // can name its line.
                    let v: toml::Value = m.next_value()?;
                    out.raw.insert(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ThemeSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.raw.is_empty() {
            return s.serialize_str(self.name.name());
        }
        let mut t = self.raw.clone();
        t.insert("name".into(), self.name.name().into());
        t.serialize(s)
    }
}

impl ThemeSetting {
    /// Checks each colour of `raw` into `colours`; an error names the
    /// style and its value.
    fn check(&mut self) -> Result<(), (String, String)> {
        for (k, v) in &self.raw {
            if k == "name" {
                self.name = v.as_str().and_then(Theme::from_name).ok_or_else(|| {
                    (
                        k.clone(),
                        format!(
                            "unknown theme `{}` (use {})",
                            v.as_str().map(str::to_string).unwrap_or(v.to_string()),
                            Theme::NAMES
                        ),
                    )
                })?;
                continue;
            }
            if !THEME_STYLES.contains(&k.as_str()) {
                return Err((
                    k.clone(),
                    format!("unknown style `{k}` (use {})", THEME_STYLES.join(", ")),
                ));
            }
            let colour = |v: &toml::Value| match v.as_str() {
                Some(s) => ThemeColour::parse(s),
                None => Err(format!("`{v}` is not a colour (write it as a string)")),
            };
            let c = match v {
                toml::Value::Table(t) => {
                    let mut c = StyleColours::default();
                    for (part, v) in t {
                        let slot = match part.as_str() {
                            "fg" => &mut c.fg,
                            "bg" => &mut c.bg,
                            _ => {
                                return Err((
                                    format!("{k}.{part}"),
                                    format!("unknown key `{part}` (use fg and bg)"),
                                ))
                            }
                        };
                        *slot = Some(colour(v).map_err(|m| (format!("{k}.{part}"), m))?);
                    }
                    c
                }
                v => StyleColours {
                    fg: Some(colour(v).map_err(|m| (k.clone(), m))?),
                    bg: None,
                },
            };
            self.colours.insert(k.clone(), c);
        }
        Ok(())
    }
}

/// The 1-based line where `style` of `[ui.theme]` is written (or, for an
/// inline `theme = { … }`, the line of `theme` under `[ui]`); 0 if not found.
fn theme_line(text: &str, style: &str) -> usize {
    let mut section = String::new();
    let mut fallback = 0;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix('[') {
            section = h.trim_end_matches(']').trim().to_string();
            continue;
        }
        let key = l.split('=').next().unwrap_or("").trim();
        if section == "ui.theme" && key == style {
            return i + 1;
        }
        if section == "ui" && key == "theme" {
            fallback = i + 1;
        }
    }
    fallback
}

impl Config {
    /// The built-in defaults (the embedded asset).
    pub fn defaults() -> Config {
        parse_layered(&[], "<built-in>").expect("the embedded default configuration is valid")
    }

    /// Defaults with one repository file's text over them.
    pub fn from_str(text: &str, file: &str) -> Result<Config, ConfigError> {
        parse_layered(&[(text, file)], file)
    }

    /// [`Config::from_str`] without the checks of values that parse but are
    /// refused (zero timeouts, link-local URLs): for reading the authority
    /// keys of a committed file, whose other values are not used.
    pub fn from_str_unvalidated(text: &str, file: &str) -> Result<Config, ConfigError> {
        parse_merged(&[(text, file)])
    }

    /// Reads `<root>/guardrail.toml` if present and layers it over the defaults.
    pub fn load(root: &Path) -> Result<Config, ConfigError> {
        let path = root.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = decode(&bytes, &path.display().to_string())?;
                Config::from_str(&text, &path.display().to_string())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::defaults()),
            Err(e) => Err(ConfigError::Unreadable {
                file: path.display().to_string(),
                source: e,
            }),
        }
    }

    /// `backups/<tag>.zip` resolved against the repository root.
    pub fn backup_path(&self, root: &Path, tag: &str) -> PathBuf {
        resolve(root, &self.project.backups_dir).join(format!("{tag}.zip"))
    }
}

/// `p` if absolute, else `root/p`.
pub fn resolve(root: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

fn decode(bytes: &[u8], file: &str) -> Result<String, ConfigError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        let line = 1 + bytes[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        ConfigError::Invalid {
            file: file.to_string(),
            line,
            key: "-".into(),
            message: "the file is not valid UTF-8".into(),
        }
    })
}

impl UserConfig {
    /// The user's file in the platform config directory, if any.
    pub fn path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "guardrail")
            .map(|d| d.config_dir().join("config.toml"))
    }

    pub fn load() -> Result<UserConfig, ConfigError> {
        let Some(path) = Self::path() else {
            return Ok(UserConfig::default());
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file = path.display().to_string();
                let text = decode(&bytes, &file)?;
                UserConfig::from_text(&text, &file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserConfig::default()),
            Err(e) => Err(ConfigError::Unreadable {
                file: path.display().to_string(),
                source: e,
            }),
        }
    }
}

impl UserConfig {
    /// The user's file `file` holding `text`: `[authority]` and
    /// `[project] main_branch` are ignored with a warning each
    /// (`warnings`); anything else unknown is an error.
    pub fn from_text(text: &str, file: &str) -> Result<UserConfig, ConfigError> {
        let mut table: toml::Table = text.parse().map_err(|e| toml_error(text, file, &e))?;
        let warnings = strip_authority(&mut table, file);
        let mut user: UserConfig = if warnings.is_empty() {
            toml::from_str(text).map_err(|e| toml_error(text, file, &e))?
        } else {
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    file: file.to_string(),
                    line: 0,
                    key: "-".into(),
                    message: e.message().to_string(),
                })?
        };
        user.ui
            .theme
            .check()
            .map_err(|(key, message)| ConfigError::Invalid {
                file: file.to_string(),
                line: theme_line(text, key.split('.').next().unwrap_or("")),
                key: format!("ui.theme.{key}"),
                message,
            })?;
        user.warnings = warnings;
        Ok(user)
    }
}

/// Takes `[authority]` and `[project] main_branch` out of the user's file:
/// authority never comes from there (SPEC §3). One warning per key.
fn strip_authority(table: &mut toml::Table, file: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if table.remove("authority").is_some() {
        warnings.push(format!(
            "{file}: [authority] is ignored; release managers are read from guardrail.toml as committed on the main branch"
        ));
    }
    if let Some(toml::Value::Table(project)) = table.get_mut("project") {
        if project.remove("main_branch").is_some() {
            warnings.push(format!(
                "{file}: [project] main_branch is ignored; the main branch is read from guardrail.toml as committed on the default branch"
            ));
        }
        if project.is_empty() {
            table.remove("project");
        }
    }
    warnings
}

/// Checks each layer on its own, then merges them over the defaults.
fn parse_layered(layers: &[(&str, &str)], _what: &str) -> Result<Config, ConfigError> {
    let cfg = parse_merged(layers)?;
    validate(&cfg, layers)?;
    Ok(cfg)
}

/// Checks each layer's syntax, keys and types, then merges them over the
/// defaults.
fn parse_merged(layers: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut merged: toml::Table = DEFAULT_TOML
        .parse()
        .map_err(|e| toml_error(DEFAULT_TOML, "<built-in>", &e))?;
    for (text, file) in layers {
        let _checked: Config = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
        let table: toml::Table = text.parse().map_err(|e| toml_error(text, file, &e))?;
        merge(&mut merged, table);
    }
    let cfg: Config = toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid {
            file: layers
                .last()
                .map(|l| l.1)
                .unwrap_or("<built-in>")
                .to_string(),
            line: 0,
            key: "-".into(),
            message: e.message().to_string(),
        })?;
    Ok(cfg)
}

/// Values that parse but are refused: zero durations where a zero makes no
/// sense, and `[live] url` / `[alerts] webhook` at a link-local or cloud
/// metadata address (unless `[live] allow_private`). The error names the
/// layer and line that set the key.
fn validate(cfg: &Config, layers: &[(&str, &str)]) -> Result<(), ConfigError> {
    let invalid = |table: &str, key: &str, message: String| {
        let (file, line) = layers
            .iter()
            .rev()
            .find_map(|(text, file)| key_line(text, table, key).map(|l| (file.to_string(), l)))
            .unwrap_or_else(|| ("<built-in>".to_string(), 0));
        ConfigError::Invalid {
            file,
            line,
            key: format!("{table}.{key}"),
            message,
        }
    };
    let positive = [
        ("live", "request_timeout", cfg.live.request_timeout),
        ("live", "deadline", cfg.live.deadline),
        ("scripts", "timeout", cfg.scripts.timeout),
        ("alerts", "timeout", cfg.alerts.timeout),
        ("team", "lease", cfg.team.lease),
        ("team", "timeout", cfg.team.timeout),
    ];
    for (table, key, d) in positive {
        if d.0.is_zero() {
            return Err(invalid(
                table,
                key,
                "must be longer than zero (use e.g. 10s)".into(),
            ));
        }
    }
    let sizes = [
        ("backup", "max_unpacked", cfg.backup.max_unpacked),
        ("evidence", "max_file", cfg.evidence.max_file),
    ];
    for (table, key, s) in sizes {
        if s.0 == 0 {
            return Err(invalid(table, key, "must be larger than zero".into()));
        }
    }
    if !cfg.live.allow_private {
        for (table, key, url) in [
            ("live", "url", &cfg.live.url),
            ("alerts", "webhook", &cfg.alerts.webhook),
        ] {
            if let Err(why) = check_url(url) {
                return Err(invalid(table, key, why));
            }
        }
    }
    Ok(())
}

/// Refuses a URL whose host is a link-local address (169.254.0.0/16,
/// fe80::/10) or a cloud metadata endpoint (169.254.169.254,
/// fd00:ec2::254, metadata.google.internal); loopback and everything else
/// pass. An empty URL passes (nothing will be requested).
pub fn check_url(url: &str) -> Result<(), String> {
    use std::net::{IpAddr, Ipv6Addr};
    let url = url.trim();
    if url.is_empty() {
        return Ok(());
    }
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Ok(());
    };
    let refused = |what: &str| {
        Err(format!(
            "`{url}` is {what}; set [live] allow_private = true if you really mean it"
        ))
    };
    let Some(host) = parsed.host_str() else {
        return Ok(());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let domain = host.trim_end_matches('.').to_ascii_lowercase();
    if domain == "metadata.google.internal" || domain == "metadata" {
        return refused("a cloud metadata address");
    }
    let ip = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        Ok(ip) => ip,
        Err(_) => return Ok(()),
    };
    let metadata_v6: Ipv6Addr = "fd00:ec2::254".parse().expect("an IPv6 address");
    match ip {
        IpAddr::V4(a) if a.octets() == [169, 254, 169, 254] => {
            refused("the cloud metadata address")
        }
        IpAddr::V4(a) if a.is_link_local() => refused("a link-local address"),
        IpAddr::V6(a) if a == metadata_v6 => refused("the cloud metadata address"),
        IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => refused("a link-local address"),
        _ => Ok(()),
    }
}

/// The 1-based line where `key` is set in `[table]` of `text`.
fn key_line(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        if let Some((k, _)) = t.split_once('=') {
            let k = k.trim().trim_matches('"');
            if (current == table && k == key)
                || (current.is_empty() && k == format!("{table}.{key}"))
            {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Tables merge key by key; any other value (arrays included) replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Turns a toml error into one sentence with file, line and key.
fn toml_error(text: &str, file: &str, e: &toml::de::Error) -> ConfigError {
    let (line, key) = match e.span() {
        Some(span) => locate(text, span.start),
        None => (0, "-".to_string()),
    };
    let mut message = e.message().trim().replace('\n', " ");
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let name = rest.split(',').next().unwrap_or(rest);
        message = format!("unknown key {name}");
    }
    ConfigError::Invalid {
        file: file.to_string(),
        line,
        key,
        message,
    }
}

/// 1-based line of `offset`, and the dotted key written there (table header
/// above it plus the key before `=`).
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let mut cut = offset;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &text[..cut];
    let line_no = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let mut table = String::new();
    for l in text.lines().take(line_no) {
        let t = l.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    let t = line.trim();
    let key = if t.starts_with('[') {
        table.clone()
    } else if let Some((k, _)) = t.split_once('=') {
        let k = k.trim().trim_matches('"');
        if table.is_empty() {
            k.to_string()
        } else {
            format!("{table}.{k}")
        }
    } else if table.is_empty() {
        "-".into()
    } else {
        table.clone()
    };
    (line_no, key)
}

/// One effective setting and the layer it came from (`guardrail config`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Origin {
    /// The dotted key, e.g. `live.url`.
    pub key: String,
    /// The value, URL user-info masked.
    pub value: toml::Value,
    /// `default`, `guardrail.toml:12`, `main:guardrail.toml:3` or the user's
    /// file with its line.
    pub source: String,
}

/// The merged configuration with the source of each value, and the values of
/// the working tree or the user's file that were ignored (one sentence each,
/// the same warnings every command prints).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shown {
    pub settings: Vec<Origin>,
    pub user: Vec<Origin>,
    pub ignored: Vec<String>,
}

/// A file's text and the name its values are shown with.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    pub text: &'a str,
    pub label: &'a str,
}

/// The keys that are read only from committed files (SPEC §3): `main_branch`
/// from the default branch's file, the others from the main branch's.
const FROM_DEFAULT_BRANCH: &[&str] = &["project.main_branch"];
const FROM_MAIN: &[&str] = &["authority.release_managers", "drill.token"];

/// Each effective value of `cfg` (the repository configuration as
/// [`super::repo::Repo::config`] returns it) and of `user` with its source:
/// the built-in default, the working tree's file, the file committed on the
/// default branch (`main_branch`) or on the main branch (authority), or the
/// user's file. `ignored` is taken as given (the configuration's and the user
/// file's warnings).
pub fn origins(
    cfg: &Config,
    working: Option<Layer<'_>>,
    default_branch: Option<Layer<'_>>,
    main: Option<Layer<'_>>,
    user: &UserConfig,
    user_file: Option<Layer<'_>>,
) -> Shown {
    let table_of = |l: Option<Layer<'_>>| -> toml::Table {
        l.and_then(|l| l.text.parse::<toml::Table>().ok())
            .unwrap_or_default()
    };
    let mut merged: toml::Table = DEFAULT_TOML.parse().unwrap_or_default();
    let local = table_of(working);
    merge(&mut merged, local.clone());
    let mut settings = Vec::new();
    for (path, value) in leaves(&merged) {
        let key = path.join(".");
        let (value, layer, table) = if FROM_DEFAULT_BRANCH.contains(&key.as_str()) {
            let v = toml::Value::String(cfg.project.main_branch.clone());
            (v, default_branch, table_of(default_branch))
        } else if FROM_MAIN.contains(&key.as_str()) {
            let v = if key == "drill.token" {
                toml::Value::String(cfg.drill.token.clone())
            } else {
                toml::Value::Array(
                    cfg.authority
                        .release_managers
                        .iter()
                        .map(|m| toml::Value::String(m.clone()))
                        .collect(),
                )
            };
            (v, main, table_of(main))
        } else {
            (value, working, local.clone())
        };
        let source = source_of(&path, layer, &table);
        let value = match (key.as_str(), masked(value)) {
            ("alerts.webhook", toml::Value::String(url)) => {
                toml::Value::String(url_path_hidden(&url))
            }
            (_, v) => v,
        };
        settings.push(Origin { key, value, source });
    }
    let user_table = {
        let mut t = table_of(user_file);
        strip_authority(&mut t, "");
        t
    };
    let user_values = match toml::Value::try_from(user) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let user_settings = leaves(&user_values)
        .into_iter()
        .map(|(path, value)| Origin {
            key: path.join("."),
            source: source_of(&path, user_file, &user_table),
            value: masked(value),
        })
        .collect();
    let mut ignored = cfg.warnings.clone();
    let local_token = local
        .get("drill")
        .and_then(|d| d.get("token"))
        .and_then(|t| t.as_str());
    if let (Some(token), Some(w)) = (local_token, working) {
        if token != cfg.drill.token {
            ignored.push(format!(
                "{}: [drill] token in the working tree is ignored; the drill token is the one committed on the main branch",
                w.label
            ));
        }
    }
    ignored.extend(user.warnings.iter().cloned());
    Shown {
        settings,
        user: user_settings,
        ignored,
    }
}

/// `label:line` when `table` (the layer's parsed text) sets `path`, else
/// `default`.
fn source_of(path: &[String], layer: Option<Layer<'_>>, table: &toml::Table) -> String {
    let Some(layer) = layer else {
        return "default".into();
    };
    let mut t = table;
    for (i, k) in path.iter().enumerate() {
        match t.get(k) {
            Some(toml::Value::Table(inner)) if i + 1 < path.len() => t = inner,
            Some(_) if i + 1 == path.len() => {
                let (table, key) = (path[..i].join("."), k.as_str());
                let line = key_line(layer.text, &table, key)
                    .or_else(|| array_header_line(layer.text, &path.join(".")));
                return match line {
                    Some(n) => format!("{}:{n}", layer.label),
                    None => layer.label.to_string(),
                };
            }
            _ => return "default".into(),
        }
    }
    "default".into()
}

/// The 1-based line of the first `[[name]]` header in `text`.
fn array_header_line(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim();
            t.starts_with("[[")
                && t.trim_start_matches('[')
                    .split(']')
                    .next()
                    .is_some_and(|h| h.trim() == name)
        })
        .map(|i| i + 1)
}

/// Every value that is not a table, with its key path; tables are walked
/// (arrays, arrays of tables included, are one value: they replace).
fn leaves(table: &toml::Table) -> Vec<(Vec<String>, toml::Value)> {
    let mut out = Vec::new();
    for (k, v) in table {
        match v {
            toml::Value::Table(inner) => {
                for (mut path, v) in leaves(inner) {
                    path.insert(0, k.clone());
                    out.push((path, v));
                }
            }
            v => out.push((vec![k.clone()], v.clone())),
        }
    }
    out
}

/// Every string in `v` with its URL user-info replaced by `***`.
fn masked(v: toml::Value) -> toml::Value {
    match v {
        toml::Value::String(s) => toml::Value::String(super::runner::mask_url_userinfo(&s)),
        toml::Value::Array(a) => toml::Value::Array(a.into_iter().map(masked).collect()),
        toml::Value::Table(t) => {
            toml::Value::Table(t.into_iter().map(|(k, v)| (k, masked(v))).collect())
        }
        v => v,
    }
}

/// A webhook URL with its path and query hidden (`https://host/…`): webhook
/// paths often carry the secret. Text that is not a URL is kept.
fn url_path_hidden(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) if u.path() != "/" || u.query().is_some() => {
            let user = if u.username().is_empty() && u.password().is_none() {
                ""
            } else {
                "***@"
            };
            let host = u.host_str().unwrap_or("");
            match u.port() {
                Some(p) => format!("{}://{user}{host}:{p}/…", u.scheme()),
                None => format!("{}://{user}{host}/…", u.scheme()),
            }
        }
        _ => url.to_string(),
    }
}

/// [`Shown`] as TOML-ish lines, `key = value  # source`, under their
/// table headers, then the user's file, then what was ignored.
pub fn render_origins(shown: &Shown) -> String {
    let mut out = String::new();
    let section = |out: &mut String, list: &[Origin], current: &mut Option<String>| {
        for o in list {
            let (table, key) = o.key.rsplit_once('.').unwrap_or(("", o.key.as_str()));
            if current.as_deref() != Some(table) {
                if !out.is_empty() {
                    out.push('\n');
                }
                if !table.is_empty() {
                    out.push_str(&format!("[{table}]\n"));
                }
                *current = Some(table.to_string());
            }
            out.push_str(&format!("{key} = {}  # {}\n", o.value, o.source));
        }
    };
    out.push_str(
        "# lowest first: default < guardrail.toml (working tree) < your own file (look and keys) < flags;\n\
         # main_branch from the default branch's committed file, release_managers and the drill token from main's\n",
    );
    let mut current = None;
    section(&mut out, &shown.settings, &mut current);
    out.push_str("\n# the user's own file (look and keys only)\n");
    let mut current = None;
    section(&mut out, &shown.user, &mut current);
    if !shown.ignored.is_empty() {
        out.push_str("\n# ignored:\n");
        for w in &shown.ignored {
            out.push_str(&format!("#   {w}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_every_section() {
        let c = Config::defaults();
        assert_eq!(c.project.main_branch, "main");
        assert_eq!(c.scripts.timeout.0, Duration::from_secs(900));
        assert_eq!(c.live.check.len(), 5);
        assert_eq!(c.evidence.require[0].min, 10);
        assert_eq!(c.authority.release_managers, vec!["codex".to_string()]);
    }

    #[test]
    fn sizes() {
        assert_eq!(Size::parse("2GiB").unwrap().0, 2 << 30);
        assert_eq!(Size::parse("100MiB").unwrap().to_string(), "100MiB");
        assert_eq!(Size::parse("1500B").unwrap().to_string(), "1500B");
        assert_eq!(Size::parse("3MB").unwrap().0, 3_000_000);
        assert!(Size::parse("2").is_err());
        assert!(Size::parse("2 gigs").is_err());
        assert!(Size::parse("99999999999TiB").is_err());
        let c = Config::defaults();
        assert_eq!(c.backup.max_unpacked.0, 2 << 30);
        assert_eq!(c.evidence.max_file.0, 100 << 20);
        assert!(!c.live.allow_private);
    }

    #[test]
    fn durations() {
        assert_eq!(Dur::parse("500ms").unwrap().0, Duration::from_millis(500));
        assert_eq!(Dur::parse("2h").unwrap().0, Duration::from_secs(7200));
        assert!(Dur::parse("15").is_err());
        assert!(Dur::parse("x5m").is_err());
        assert_eq!(Dur::parse("90s").unwrap().to_string(), "90s");
    }
}
