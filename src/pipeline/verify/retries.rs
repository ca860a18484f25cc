//! Running the checks concurrently, each retried with backoff until it
//! passes or the deadline passes, on a runtime of its own; the board that
//! reports every change.
use super::*;

/// The checks' states and the callback, behind one lock: every change is
/// made and reported under it, so reports arrive in order.
pub(super) struct Board<F> {
    inner: Mutex<(Vec<CheckStatus>, F)>,
}

impl<F: FnMut(&CheckStatus)> Board<F> {
    pub(super) fn update(&self, i: usize, f: impl FnOnce(&mut CheckStatus)) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (checks, cb) = &mut *g;
        f(&mut checks[i]);
        cb(&checks[i]);
    }
}

pub(super) struct Backoff {
    pub(super) next: Duration,
}

impl Backoff {
    pub(super) fn new(first: Duration) -> Backoff {
        Backoff {
            next: first.max(Duration::from_millis(10)),
        }
    }
    /// Sleeps the next wait (never past `deadline`); false once the deadline
    /// has passed.
    async fn wait(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(self.next.min(deadline - now)).await;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        true
    }
}

pub(super) fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn run_check<F: FnMut(&CheckStatus)>(
    client: &reqwest::Client,
    i: usize,
    url: &reqwest::Url,
    check: &LiveCheck,
    expect: &Expect,
    opts: &VerifyOptions,
    deadline: Instant,
    board: &Board<F>,
) {
    let mut backoff = Backoff::new(opts.first_backoff);
    loop {
        board.update(i, |s| {
            s.state = CheckState::Running;
            s.attempts += 1;
        });
        let t0 = Instant::now();
        let verdict = match attempt(client, url, opts.request_timeout).await {
            Ok(answer) => evaluate(check, expect, &answer),
            Err(e) => Verdict::Fail(e),
        };
        let latency = Some(ms(t0.elapsed()));
        let (state, text) = match verdict {
            Verdict::Ok(d) => (CheckState::Ok, d),
            Verdict::Warn(d) => (CheckState::Warn, d),
            Verdict::Fail(e) => {
                let last = Instant::now() >= deadline;
                board.update(i, |s| {
                    s.latency_ms = latency;
                    s.last_error = Some(e);
                    if last {
                        s.state = CheckState::Fail;
                    }
                });
                if last || !backoff.wait(deadline).await {
                    if !last {
                        board.update(i, |s| s.state = CheckState::Fail);
                    }
                    return;
                }
                continue;
            }
        };
        board.update(i, |s| {
            s.state = state;
            s.latency_ms = latency;
            s.detail = Some(text);
        });
        return;
    }
}

/// Why one manifest file does not match, or `None` when it does.
pub(super) async fn manifest_file(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    want: &str,
    timeout: Duration,
) -> Option<String> {
    let url = match join_url(base, path) {
        Ok(u) => u,
        Err(e) => return Some(e),
    };
    match attempt(client, &url, timeout).await {
        Err(e) => Some(e),
        Ok(a) if a.status.is_redirection() => Some(redirect_failure(&a)),
        Ok(a) if !a.status.is_success() => Some(status_text(a.status)),
        Ok(a) => {
            let got = content_hash(&a.body);
            if got.eq_ignore_ascii_case(want.trim()) {
                None
            } else {
                Some(format!(
                    "content differs (sha256 {}…, expected {}…)",
                    &got[..12],
                    &want.trim()[..want.trim().len().min(12)]
                ))
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn run_manifest<F: FnMut(&CheckStatus)>(
    client: &reqwest::Client,
    i: usize,
    base: &str,
    manifest: &BTreeMap<String, String>,
    opts: &VerifyOptions,
    deadline: Instant,
    board: &Board<F>,
) {
    let mut backoff = Backoff::new(opts.first_backoff);
    // Files not yet seen to match; a file that matched is not fetched again.
    let mut left: Vec<(&String, &String)> = manifest.iter().collect();
    loop {
        board.update(i, |s| {
            s.state = CheckState::Running;
            s.attempts += 1;
        });
        let t0 = Instant::now();
        let results: Vec<(&String, &String, Option<String>)> =
            futures::stream::iter(left.iter().map(|(p, h)| async move {
                let why = manifest_file(client, base, p, h, opts.request_timeout).await;
                (*p, *h, why)
            }))
            .buffered(MANIFEST_PARALLEL)
            .collect()
            .await;
        let latency = Some(ms(t0.elapsed()));
        let differ: Vec<(&String, String)> = results
            .iter()
            .filter_map(|(p, _, why)| why.clone().map(|w| (*p, w)))
            .collect();
        left.retain(|(p, _)| differ.iter().any(|(d, _)| d == p));
        if differ.is_empty() {
            board.update(i, |s| {
                s.state = CheckState::Ok;
                s.latency_ms = latency;
                s.detail = Some(format!(
                    "{} file{} as tagged",
                    manifest.len(),
                    if manifest.len() == 1 { "" } else { "s" }
                ));
            });
            return;
        }
        let names: Vec<&str> = differ.iter().map(|(p, _)| p.as_str()).collect();
        let error = format!(
            "{} of {} files differ: {}; {}",
            differ.len(),
            manifest.len(),
            names.join(", "),
            differ
                .iter()
                .map(|(p, w)| format!("{p}: {w}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let last = Instant::now() >= deadline;
        board.update(i, |s| {
            s.latency_ms = latency;
            s.last_error = Some(error);
            if last {
                s.state = CheckState::Fail;
            }
        });
        if last || !backoff.wait(deadline).await {
            if !last {
                board.update(i, |s| s.state = CheckState::Fail);
            }
            return;
        }
    }
}

/// Runs `checks` against `base_url` concurrently (see the module
/// documentation); `on_update` hears every change of every check, from a
/// worker thread. Never fails: what cannot be checked is a failed check.
///
/// Blocks until every check has its verdict (at most `deadline` plus one
/// `request_timeout`). It runs its own small runtime on its own threads, so
/// it may be called from any thread, a tokio worker included — though the
/// console should call it off its render loop.
pub fn run(
    base_url: &str,
    checks: &[LiveCheck],
    expect: &Expect,
    opts: VerifyOptions,
    on_update: impl FnMut(&CheckStatus) + Send,
) -> VerifyReport {
    run_with_script(base_url, checks, expect, opts, None, on_update)
}

/// [`run`], plus the verify script (when given and present) beside the HTTP
/// checks as the check [`SCRIPT_CHECK`].
pub fn run_with_script(
    base_url: &str,
    checks: &[LiveCheck],
    expect: &Expect,
    opts: VerifyOptions,
    script: Option<VerifyScript>,
    on_update: impl FnMut(&CheckStatus) + Send,
) -> VerifyReport {
    let start = Instant::now();
    let deadline = start + opts.deadline;
    let base = base_url.trim().trim_end_matches('/').to_string();

    let urls: Vec<Result<reqwest::Url, String>> =
        checks.iter().map(|c| join_url(&base, &c.path)).collect();
    let mut statuses: Vec<CheckStatus> = checks
        .iter()
        .zip(&urls)
        .map(|(c, u)| {
            let url = match u {
                Ok(u) => u.to_string(),
                Err(_) => format!("{base}{}", c.path),
            };
            CheckStatus::pending(&c.name, url)
        })
        .collect();
    let manifest_index = expect.manifest.as_ref().map(|_| {
        statuses.push(CheckStatus::pending(MANIFEST_CHECK, format!("{base}/")));
        statuses.len() - 1
    });
    let script_index = match &script {
        Some(VerifyScript {
            spec: Some(_),
            script,
        }) => {
            statuses.push(CheckStatus::pending(SCRIPT_CHECK, script.clone()));
            Some(statuses.len() - 1)
        }
        _ => None,
    };

    let board = Board {
        inner: Mutex::new((statuses, on_update)),
    };
    {
        let mut g = board.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (s, cb) = &mut *g;
        s.iter().for_each(cb);
    }

    let mut script_result: Option<ScriptResult> = None;
    std::thread::scope(|scope| {
        let board = &board;
        let script_thread = match (script_index, script.clone()) {
            (
                Some(i),
                Some(VerifyScript {
                    spec: Some(spec),
                    script,
                }),
            ) => Some(scope.spawn(move || run_script(i, spec, &script, board))),
            _ => None,
        };
        let http = scope.spawn(|| {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return Err(format!("could not start the HTTP runtime: {e}")),
            };
            let client = client(&opts)?;
            rt.block_on(async {
                let client = &client;
                let base = base.as_str();
                let mut tasks: Vec<futures::future::LocalBoxFuture<'_, ()>> = Vec::new();
                for (i, (check, url)) in checks.iter().zip(&urls).enumerate() {
                    match url {
                        Ok(url) => tasks.push(Box::pin(run_check(
                            client, i, url, check, expect, &opts, deadline, board,
                        ))),
                        Err(e) => board.update(i, |s| {
                            s.state = CheckState::Fail;
                            s.last_error = Some(e.clone());
                        }),
                    }
                }
                if let (Some(i), Some(m)) = (manifest_index, &expect.manifest) {
                    tasks.push(Box::pin(run_manifest(
                        client, i, base, m, &opts, deadline, board,
                    )));
                }
                futures::future::join_all(tasks).await;
            });
            Ok(())
        });
        if let Ok(Err(e)) = http.join() {
            // No HTTP at all: every HTTP check fails with the reason.
            let n = checks.len() + usize::from(manifest_index.is_some());
            for i in 0..n {
                board.update(i, |s| {
                    if !s.state.is_final() {
                        s.state = CheckState::Fail;
                        s.last_error = Some(e.clone());
                    }
                });
            }
        }
        if let Some(t) = script_thread {
            script_result = t.join().ok();
        }
    });

    let (checks, _) = board.inner.into_inner().unwrap_or_else(|e| e.into_inner());
    let script = match script {
        None => None,
        Some(VerifyScript { spec: None, script }) => Some(ScriptResult {
            script,
            skipped: true,
            passed: true,
            exit_code: None,
            duration_ms: 0,
            summary: "not in the repository, skipped".into(),
            log: None,
        }),
        Some(VerifyScript { spec: Some(_), .. }) => script_result,
    };
    VerifyReport {
        url: base,
        ok: checks.iter().all(|c| c.state.passed()),
        checks,
        duration_ms: ms(start.elapsed()),
        script,
        audit_seq: None,
    }
}
