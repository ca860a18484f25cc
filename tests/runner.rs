//! The script runner against real bash and zsh scripts.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guardrail::pipeline::runner::{self, Answers, Outcome, RunError, RunEvent, RunSpec};
use sha2::{Digest, Sha256};

const QUESTIONS: [&str; 5] = [
    "PS101 10-step flow walked end-to-end against this build?",
    "Auth modal opens and signs in on this build?",
    "Baseline line counts within tolerance?",
    "Screenshots attached for every PS101 step?",
    "Fallback tag and bundle path proposed?",
];

fn prompt(q: &str) -> String {
    format!("{q} [yes/no/n/a]: ")
}

fn gate_body() -> String {
    let qs: Vec<String> = QUESTIONS.iter().map(|q| format!("  \"{q}\"")).collect();
    format!(
        r#"questions=(
{}
)
fail=0
for q in "${{questions[@]}}"; do
  printf '%s [yes/no/n/a]: ' "$q"
  if ! read -r ans; then
    printf '\nFAIL: no answer to "%s" (input closed)\n' "$q"
    exit 1
  fi
  case "$ans" in
    yes|n/a) ;;
    *) fail=1 ;;
  esac
done
if [ "$fail" -eq 0 ]; then echo PASS; exit 0; else echo FAIL; exit 1; fi
"#,
        qs.join("\n")
    )
}

fn write_script(dir: &Path, name: &str, shell: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("#!/usr/bin/env {shell}\n{body}")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn require_zsh() {
    let ok = std::process::Command::new("zsh")
        .args(["-c", "exit 0"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "these tests need zsh installed (apt-get install zsh)");
}

fn spec(dir: &Path, program: PathBuf) -> RunSpec {
    let mut s = RunSpec::new(program, dir, dir.join("logs/run.log"));
    s.timeout = Some(Duration::from_secs(20));
    s.grace = Duration::from_secs(1);
    s
}

/// Run and collect every event.
fn run_collect(spec: RunSpec) -> (Outcome, Vec<RunEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let outcome = runner::run(spec, move |e| sink.lock().unwrap().push(e)).unwrap();
    let events = Arc::try_unwrap(events).unwrap().into_inner().unwrap();
    (outcome, events)
}

fn output_text(events: &[RunEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Output(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

fn prompts(events: &[RunEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Prompt(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn read_log(spec_dir: &Path) -> String {
    fs::read_to_string(spec_dir.join("logs/run.log")).unwrap()
}

fn alive(pid: i32) -> bool {
    common::process_alive(pid)
}

fn wait_gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn pid_after(log: &str, marker: &str) -> i32 {
    let line = log
        .lines()
        .find(|l| l.starts_with(marker))
        .unwrap_or_else(|| panic!("no {marker} line in log:\n{log}"));
    line[marker.len()..].trim().parse().unwrap()
}

fn answers(list: &[&str]) -> Answers {
    Answers::Scripted(list.iter().map(|s| s.to_string()).collect())
}

fn gate_scripted(shell: &str, list: &[&str]) -> (Outcome, Vec<RunEvent>, String) {
    let dir = tempfile::tempdir().unwrap();
    let gate = write_script(dir.path(), "run_deploy_gate.sh", shell, &gate_body());
    let mut s = spec(dir.path(), gate);
    s.answers = answers(list);
    let (outcome, events) = run_collect(s);
    let log = read_log(dir.path());
    (outcome, events, log)
}

#[test]
fn bash_gate_passes_with_scripted_answers() {
    let (outcome, events, log) = gate_scripted("bash", &["yes", "yes", "n/a", "yes", "yes"]);
    assert!(outcome.success(), "{outcome:?}\n{log}");
    assert_eq!(outcome.exit_code, Some(0));
    let expected: String = QUESTIONS.iter().map(|q| prompt(q)).collect::<String>() + "PASS\n";
    assert_eq!(log, expected);
    assert_eq!(output_text(&events), expected);
    assert!(matches!(events.last(), Some(RunEvent::Finished(o)) if *o == outcome));
}

#[test]
fn zsh_gate_passes_with_scripted_answers() {
    require_zsh();
    let (outcome, _, log) = gate_scripted("zsh", &["yes", "n/a", "yes", "yes", "yes"]);
    assert!(outcome.success(), "{outcome:?}\n{log}");
    assert!(log.starts_with(&prompt(QUESTIONS[0])), "{log}");
    assert!(log.ends_with("PASS\n"), "{log}");
}

#[test]
fn a_no_answer_fails_the_gate_in_both_shells() {
    require_zsh();
    for shell in ["bash", "zsh"] {
        let (outcome, _, log) = gate_scripted(shell, &["yes", "no", "yes", "yes", "yes"]);
        assert!(!outcome.success());
        assert_eq!(outcome.exit_code, Some(1), "{shell}");
        assert!(log.ends_with("FAIL\n"), "{shell}: {log}");
    }
}

#[test]
fn closed_input_makes_a_waiting_gate_fail_fast() {
    require_zsh();
    for shell in ["bash", "zsh"] {
        let dir = tempfile::tempdir().unwrap();
        let gate = write_script(dir.path(), "gate.sh", shell, &gate_body());
        let s = spec(dir.path(), gate);
        assert_eq!(s.answers, Answers::Closed);
        let started = Instant::now();
        let (outcome, _) = run_collect(s);
        assert!(started.elapsed() < Duration::from_secs(3), "{shell} hung");
        assert_eq!(outcome.exit_code, Some(1), "{shell}");
        assert!(!outcome.timed_out);
        assert!(read_log(dir.path()).contains("FAIL: no answer"), "{shell}");
    }
}

fn interactive_gate(shell: &str) {
    let dir = tempfile::tempdir().unwrap();
    let gate = write_script(dir.path(), "gate.sh", shell, &gate_body());
    let mut s = spec(dir.path(), gate);
    s.answers = Answers::Interactive;
    let (tx, rx) = mpsc::channel();
    let (handle, join) = runner::spawn(s, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    assert!(handle.pid() > 0);
    let mut seen_output = String::new();
    for q in QUESTIONS {
        // Wait for this question's prompt before answering.
        let text = loop {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(RunEvent::Prompt(p)) => break p,
                Ok(RunEvent::Output(o)) => seen_output.push_str(&o),
                Ok(RunEvent::Finished(o)) => panic!("{shell}: finished early: {o:?}"),
                Err(e) => panic!("{shell}: no prompt for {q:?}: {e}"),
            }
        };
        assert_eq!(text, prompt(q), "{shell}");
        assert!(
            seen_output.ends_with(&prompt(q)),
            "{shell}: {seen_output:?}"
        );
        assert!(!seen_output.contains("PASS"));
        handle.answer("yes").unwrap();
    }
    let outcome = join.join().unwrap();
    assert!(outcome.success(), "{shell}: {outcome:?}");
    let rest: Vec<RunEvent> = rx.try_iter().collect();
    assert!(matches!(rest.last(), Some(RunEvent::Finished(_))));
    // The answers show in the log as a terminal would show them.
    let log = read_log(dir.path());
    let expected: String = QUESTIONS
        .iter()
        .map(|q| format!("{}yes\n", prompt(q)))
        .collect::<String>()
        + "PASS\n";
    assert_eq!(log, expected, "{shell}");
    // After the end, stdin is closed.
    assert!(handle.answer("late").is_err());
}

#[test]
fn bash_gate_answered_interactively_after_prompts() {
    interactive_gate("bash");
}

#[test]
fn zsh_gate_answered_interactively_after_prompts() {
    require_zsh();
    interactive_gate("zsh");
}

#[test]
fn stdout_and_stderr_are_merged_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let body = "for i in 1 2 3; do echo out$i; echo err$i >&2; done\n";
    let p = write_script(dir.path(), "s.sh", "bash", body);
    let (outcome, _) = run_collect(spec(dir.path(), p));
    assert!(outcome.success());
    assert_eq!(read_log(dir.path()), "out1\nerr1\nout2\nerr2\nout3\nerr3\n");
}

#[test]
fn a_million_lines_are_logged_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_script(
        dir.path(),
        "big.sh",
        "bash",
        "seq -f 'line %.0f' 1 1000000\n",
    );
    let bytes_seen = Arc::new(Mutex::new(0usize));
    let counter = bytes_seen.clone();
    let outcome = runner::run(spec(dir.path(), p), move |e| {
        if let RunEvent::Output(s) = e {
            *counter.lock().unwrap() += s.len();
        }
    })
    .unwrap();
    assert!(outcome.success(), "{outcome:?}");
    // Stream the log (the memory test runs alongside this one).
    use std::io::BufRead;
    let file = fs::File::open(dir.path().join("logs/run.log")).unwrap();
    let mut reader = std::io::BufReader::new(file);
    let (mut lines, mut total, mut hasher) = (0usize, 0usize, Sha256::new());
    let (mut first, mut last) = (String::new(), String::new());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        lines += 1;
        total += line.len();
        hasher.update(line.as_bytes());
        if lines == 1 {
            first = line.clone();
        }
        std::mem::swap(&mut last, &mut line);
        line.clear();
    }
    assert_eq!(lines, 1_000_000);
    assert_eq!(first, "line 1\n");
    assert_eq!(last, "line 1000000\n");
    assert_eq!(outcome.log_bytes, total as u64);
    assert_eq!(outcome.log_sha256, hex::encode(hasher.finalize()));
    assert_eq!(*bytes_seen.lock().unwrap(), total);
}

#[test]
fn timeout_ends_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let body = "sleep 300 &\necho \"child $!\"\nsleep 30\necho never\n";
    let p = write_script(dir.path(), "slow.sh", "bash", body);
    let mut s = spec(dir.path(), p);
    s.timeout = Some(Duration::from_millis(700));
    s.grace = Duration::from_secs(2);
    let started = Instant::now();
    let (outcome, events) = run_collect(s);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(outcome.timed_out && !outcome.success(), "{outcome:?}");
    let log = read_log(dir.path());
    let child = pid_after(&log, "child ");
    assert!(wait_gone(child), "background child {child} survived");
    assert!(!log.contains("never"));
    let note = log
        .lines()
        .find(|l| l.starts_with("guardrail: timed out after 700ms; sent TERM to process group "))
        .unwrap_or_else(|| panic!("no timeout note:\n{log}"));
    assert!(output_text(&events).contains(note));
    assert!(outcome.notes.iter().any(|n| n == note));
}

#[test]
fn a_script_ignoring_term_is_killed_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let body = "trap '' TERM\necho \"me $$\"\nsleep 30\n";
    let p = write_script(dir.path(), "stubborn.sh", "bash", body);
    let mut s = spec(dir.path(), p);
    s.timeout = Some(Duration::from_millis(500));
    s.grace = Duration::from_millis(700);
    let started = Instant::now();
    let (outcome, _) = run_collect(s);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1200), "{took:?}");
    assert!(took < Duration::from_millis(1200 + 2500), "{took:?}");
    assert!(outcome.timed_out);
    assert_eq!(outcome.signal, Some(libc::SIGKILL));
    let log = read_log(dir.path());
    assert!(
        log.contains("still running 700ms after TERM; sent KILL"),
        "{log}"
    );
    assert!(wait_gone(pid_after(&log, "me ")));
}

#[test]
fn a_background_child_holding_the_pipe_does_not_hang_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let body = "sleep 1000 &\necho \"bg $!\"\necho done\nexit 0\n";
    let p = write_script(dir.path(), "bg.sh", "bash", body);
    let started = Instant::now();
    let (outcome, _) = run_collect(spec(dir.path(), p));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(outcome.success(), "{outcome:?}");
    let log = read_log(dir.path());
    assert!(log.contains("done\n"));
    assert!(log.contains("still held its output"), "{log}");
    assert!(wait_gone(pid_after(&log, "bg ")));
}

#[test]
fn cancel_and_idle_timeout_end_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_script(
        dir.path(),
        "wait.sh",
        "bash",
        "printf 'Are you sure? (yes/no): '\nread -r a\necho \"got $a\"\n",
    );
    let mut s = spec(dir.path(), p.clone());
    s.answers = Answers::Interactive;
    let (tx, rx) = mpsc::channel();
    let (handle, join) = runner::spawn(s, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    loop {
        if let RunEvent::Prompt(p) = rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            assert_eq!(p, "Are you sure? (yes/no): ");
            break;
        }
    }
    handle.cancel();
    let outcome = join.join().unwrap();
    assert!(outcome.cancelled && !outcome.success(), "{outcome:?}");
    let log = read_log(dir.path());
    assert!(
        log.starts_with(
            "Are you sure? (yes/no): \nguardrail: cancelled; sent TERM to process group "
        ),
        "{log}"
    );

    let p = write_script(dir.path(), "quiet.sh", "bash", "echo start\nsleep 30\n");
    let mut s = spec(dir.path(), p);
    s.idle_timeout = Some(Duration::from_millis(400));
    let started = Instant::now();
    let (outcome, _) = run_collect(s);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(outcome.idle_killed && !outcome.timed_out, "{outcome:?}");
    assert!(read_log(dir.path()).contains("guardrail: no output for 400ms; sent TERM"));
}

const TOKEN: &str = "abcdef123456789";
const TOKEN_B64: &str = "YWJjZGVmMTIzNDU2Nzg5";
const PASSWORD: &str = "p@ss w/rd:123&x";
const PASSWORD_URL: &str = "p%40ss%20w%2Frd%3A123%26x";

#[test]
fn secrets_are_masked_in_log_and_events_however_they_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"T="$NETLIFY_AUTH_TOKEN"
echo "plain: $T"
printf %s "$T" | base64
printf 'url-safe: %s\n' "$(printf %s "$T" | base64 | tr '+/' '-_' | tr -d '=')"
urlenc() {
  local s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [a-zA-Z0-9.~_-]) out+="$c" ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}
echo "url: https://example.org/?pw=$(urlenc "$DB_PASSWORD")"
echo "pw: $DB_PASSWORD"
printf 'in colour: \033[31m%s\033[0m\n' "$T"
for off in 1 4 7 11 14; do
  printf 'split %s:' "$off"; printf %s "${T:0:off}"; sleep 0.2; printf '%s\n' "${T:off}"
done
for off in 2 9; do
  printf 'fast %s:' "$off"; printf %s "${T:0:off}"; sleep 0.01; printf '%s\n' "${T:off}"
done
B=$(printf %s "$T" | base64)
printf 'b64 split:'; printf %s "${B:0:5}"; sleep 0.2; printf '%s\n' "${B:5}"
echo done
"#;
    let p = write_script(dir.path(), "leaky.sh", "bash", body);
    let mut s = spec(dir.path(), p);
    s.env = vec![
        ("NETLIFY_AUTH_TOKEN".into(), TOKEN.into()),
        ("DB_PASSWORD".into(), PASSWORD.into()),
    ];
    let (outcome, events) = run_collect(s);
    assert!(outcome.success(), "{outcome:?}");
    let log = read_log(dir.path());
    let out = output_text(&events);
    let forbidden = [TOKEN, TOKEN_B64, PASSWORD, PASSWORD_URL];
    for f in forbidden {
        assert!(!log.contains(f), "{f} in log:\n{log}");
        assert!(!out.contains(f), "{f} in events:\n{out}");
        for e in &events {
            if let RunEvent::Output(t) | RunEvent::Prompt(t) = e {
                assert!(!t.contains(f), "{f} in event {t:?}");
            }
        }
    }
    for line in [
        "plain: ***",
        "***",
        "url-safe: ***",
        "url: https://example.org/?pw=***",
        "pw: ***",
        "in colour: ***",
        "split 1:***",
        "split 4:***",
        "split 7:***",
        "split 11:***",
        "split 14:***",
        "fast 2:***",
        "fast 9:***",
        "b64 split:***",
        "done",
    ] {
        assert!(
            log.lines().any(|l| l == line),
            "missing {line:?} in log:\n{log}"
        );
    }
    // The pause inside a split secret still produced prompts, without it.
    assert!(
        prompts(&events).iter().any(|p| p == "split 7:"),
        "{:?}",
        prompts(&events)
    );
}

#[test]
fn a_short_secret_is_not_masked_but_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_script(dir.path(), "s.sh", "bash", "echo \"key is $MY_API_KEY\"\n");
    let mut s = spec(dir.path(), p);
    s.env = vec![("MY_API_KEY".into(), "short1".into())];
    let (outcome, events) = run_collect(s);
    let log = read_log(dir.path());
    let first = log.lines().next().unwrap();
    assert!(first.starts_with("guardrail: warning: MY_API_KEY"), "{log}");
    assert!(!first.contains("short1"));
    assert!(log.contains("key is short1\n"));
    assert!(outcome.notes.iter().any(|n| n.contains("MY_API_KEY")));
    assert!(output_text(&events).contains("guardrail: warning: MY_API_KEY"));
    let (values, warnings) = runner::secret_values_from_env(
        vec![("MY_API_KEY".to_string(), "short1".to_string())].into_iter(),
    );
    assert!(values.is_empty());
    assert_eq!(warnings.len(), 1);
}

#[test]
fn ansi_colours_are_stripped_from_the_log_but_kept_in_events() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_script(
        dir.path(),
        "c.sh",
        "bash",
        "printf '\\033[1;32m✅ all good\\033[0m and \\033[31mred\\033[0m\\n'\n",
    );
    let (outcome, events) = run_collect(spec(dir.path(), p));
    assert!(outcome.success());
    assert_eq!(read_log(dir.path()), "✅ all good and red\n");
    let out = output_text(&events);
    assert!(out.contains("\x1b[1;32m✅ all good\x1b[0m"), "{out:?}");
    assert_eq!(runner::strip_ansi(&out), "✅ all good and red\n");
}

#[test]
fn carriage_return_progress_collapses_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_script(
        dir.path(),
        "p.sh",
        "bash",
        "for n in 10 50 100; do printf 'uploading %s%%\\r' $n; sleep 0.05; done\nprintf '\\n'\necho next\nprintf 'crlf\\r\\n'\n",
    );
    let (outcome, events) = run_collect(spec(dir.path(), p));
    assert!(outcome.success());
    assert_eq!(read_log(dir.path()), "uploading 100%\nnext\ncrlf\n");
    assert!(output_text(&events).contains("uploading 10%\r"));
    assert_eq!(
        runner::apply_carriage_returns("uploading 10%\ruploading 100%"),
        "uploading 100%"
    );
}

#[test]
fn missing_or_non_executable_scripts_are_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("scripts/run_deploy_gate.sh");
    match runner::run(spec(dir.path(), missing.clone()), |_| {}) {
        Err(e @ RunError::NotFound(_)) => {
            assert!(
                e.to_string().contains(&missing.display().to_string()),
                "{e}"
            )
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    let plain = dir.path().join("plain.sh");
    fs::write(&plain, "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o644)).unwrap();
    match runner::run(spec(dir.path(), plain.clone()), |_| {}) {
        Err(e @ RunError::NotExecutable(_)) => {
            let msg = e.to_string();
            assert!(msg.contains(&plain.display().to_string()), "{msg}");
            assert!(msg.contains("not executable"), "{msg}");
        }
        other => panic!("expected NotExecutable, got {other:?}"),
    }
    let bad = dir.path().join("bad.sh");
    fs::write(&bad, "#!/nonexistent/shell\necho hi\n").unwrap();
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o755)).unwrap();
    match runner::run(spec(dir.path(), bad), |_| {}) {
        Err(e @ RunError::BadInterpreter(_)) => assert!(e.to_string().contains("#!"), "{e}"),
        other => panic!("expected BadInterpreter, got {other:?}"),
    }
    // A relative program is found from the working directory.
    write_script(dir.path(), "rel.sh", "bash", "echo rel\n");
    let (outcome, _) = run_collect(spec(dir.path(), PathBuf::from("rel.sh")));
    assert!(outcome.success());
}

fn peak_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_huge_line_without_newline_keeps_memory_bounded() {
    const SIZE: usize = 32 << 20;
    let dir = tempfile::tempdir().unwrap();
    let p = write_script(
        dir.path(),
        "wide.sh",
        "bash",
        &format!("head -c {SIZE} /dev/zero | tr '\\0' 'x'\n"),
    );
    let before = peak_rss_kib();
    let seen = Arc::new(Mutex::new(0usize));
    let counter = seen.clone();
    let outcome = runner::run(spec(dir.path(), p), move |e| {
        if let RunEvent::Output(s) = e {
            *counter.lock().unwrap() += s.len();
        }
    })
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), SIZE);
    assert!(outcome.success());
    assert_eq!(outcome.log_bytes, SIZE as u64);
    assert_eq!(
        fs::metadata(dir.path().join("logs/run.log")).unwrap().len(),
        SIZE as u64
    );
    let grown_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    assert!(grown_mib < 16, "peak memory grew by {grown_mib} MiB");
}
