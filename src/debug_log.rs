//! The debug log (`--log-level` / `GUARDRAIL_LOG`): guardrail's own
//! `tracing` events, written by a background thread to
//! `$XDG_STATE_HOME/guardrail/guardrail.log`, rotated by size. Off unless
//! asked for: then nothing is written and no file is created.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The log is rotated (to `guardrail.log.1`, one old file kept) past this size.
const ROTATE_AT: u64 = 8 << 20;

/// The level asked for by the flag, else by `GUARDRAIL_LOG`; `None` when
/// neither is set (or is `off`).
pub fn level_asked(flag: Option<&str>) -> anyhow::Result<Option<tracing::Level>> {
    let (text, source) = match flag {
        Some(f) => (f.to_string(), "--log-level"),
        None => match std::env::var("GUARDRAIL_LOG") {
            Ok(v) if !v.trim().is_empty() => (v, "GUARDRAIL_LOG"),
            _ => return Ok(None),
        },
    };
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse::<tracing::Level>().map(Some).map_err(|_| {
        anyhow::anyhow!(
            "{source} `{text}` is not a log level (error, warn, info, debug, trace or off)"
        )
    })
}

/// `<state dir>/guardrail.log` (the data-local dir where there is no state dir).
pub fn log_path() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "guardrail")?;
    let dir = dirs
        .state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .to_path_buf();
    Some(dir.join("guardrail.log"))
}

/// Starts the debug log at `level`; the guard flushes it when dropped.
pub fn init(level: tracing::Level) -> anyhow::Result<WorkerGuard> {
    let path = log_path()
        .ok_or_else(|| anyhow::anyhow!("the debug log has no place: no home directory"))?;
    let file = SizeRotating::open(path.clone())
        .map_err(|e| anyhow::anyhow!("could not open the debug log {}: {e}", path.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_thread_names(true),
        )
        // Only guardrail's own events: libraries stay quiet.
        .with(Targets::new().with_target("guardrail", level))
        .try_init()
        .map_err(|e| anyhow::anyhow!("could not start the debug log: {e}"))?;
    Ok(guard)
}

/// An appending file that moves itself to `<path>.1` once past [`ROTATE_AT`].
struct SizeRotating {
    path: PathBuf,
    file: File,
    size: u64,
    cap: u64,
}

impl SizeRotating {
    fn open(path: PathBuf) -> io::Result<SizeRotating> {
        SizeRotating::open_capped(path, ROTATE_AT)
    }

    fn open_capped(path: PathBuf, cap: u64) -> io::Result<SizeRotating> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = append(&path)?;
        let size = file.metadata()?.len();
        Ok(SizeRotating {
            path,
            file,
            size,
            cap,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        fs::rename(&self.path, old)?;
        self.file = append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Write for SizeRotating {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size >= self.cap {
            // A failed rotation keeps writing to the current file.
            let _ = self.rotate();
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_moves_to_dot_1_past_its_cap_and_one_old_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/guardrail/guardrail.log");
        let mut w = SizeRotating::open_capped(path.clone(), 10).unwrap();
        w.write_all(b"first line\n").unwrap(); // 11 bytes: past the cap
        w.write_all(b"second\n").unwrap();
        let old = dir.path().join("state/guardrail/guardrail.log.1");
        assert_eq!(fs::read_to_string(&old).unwrap(), "first line\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "second\n");
        w.write_all(b"third line\n").unwrap();
        w.write_all(b"fourth\n").unwrap();
        assert_eq!(fs::read_to_string(&old).unwrap(), "second\nthird line\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "fourth\n");
        // Reopened, it appends and counts what is there.
        drop(w);
        let mut w = SizeRotating::open_capped(path.clone(), 10).unwrap();
        w.write_all(b"fifth\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "fourth\nfifth\n");
        w.write_all(b"sixth\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "sixth\n");
    }
}
