//! The interactive console: terminal set-up and restore, the event loop, and
//! the background readers that fill in what the first frame could not wait
//! for. Keys and worker results arrive as [`Msg`]s; frames are drawn only when
//! something changed, each wrapped in synchronized output.
pub mod coach;
pub mod component;
pub mod job;
pub mod keys;
pub mod log;
pub mod modal;
pub mod mouse;
pub mod playbook;
pub mod review;
pub mod rollback;
pub mod screens;
pub mod state;

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, BeginSynchronizedUpdate, EndSynchronizedUpdate,
    EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute, queue};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use crate::pipeline::config::UserConfig;
use crate::pipeline::handoff::package;
use crate::pipeline::repo::{BranchRef, Repo};
pub use state::{App, Msg, Pane, PlayMsg, Request, RunMsg, Screen};

/// What the command line hands the console.
pub struct Options {
    pub dir: PathBuf,
    pub readonly: bool,
    pub user: UserConfig,
    /// In a drill: what the coach needs to know about the sandbox.
    pub drill: Option<coach::DrillInfo>,
}

/// Puts the terminal back: raw mode off, mouse and bracketed paste off, main
/// screen, cursor shown. Safe to call more than once.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let mut out = io::stdout();
    let _ = execute!(
        out,
        EndSynchronizedUpdate,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = out.flush();
}

/// The thread that draws (the one that installed the panic hook).
static UI_THREAD: std::sync::OnceLock<std::thread::ThreadId> = std::sync::OnceLock::new();

/// On a panic of the UI thread the terminal is restored first, then one
/// plain message says what happened (the full report with
/// `GUARDRAIL_DEBUG=1`). A panic in any other thread leaves the terminal
/// alone: the loop goes on drawing, and a worker's panic comes back to it
/// as `Msg::Error` (see [`guarded`]).
fn install_panic_hook() {
    let _ = UI_THREAD.set(std::thread::current().id());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if UI_THREAD
            .get()
            .is_some_and(|ui| *ui != std::thread::current().id())
        {
            return;
        }
        restore_terminal();
        if std::env::var_os("GUARDRAIL_DEBUG").is_some() {
            previous(info);
            return;
        }
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("guardrail crashed: {what}{at}. The terminal was restored; running jobs were not recorded as finished and show as aborted on the next start. Set GUARDRAIL_DEBUG=1 for the full report.");
    }));
}

/// Builds the app from a fast read of the refs (no commit is opened).
pub fn initial_app(repo: &Repo, opts_readonly: bool, user_cfg: &UserConfig) -> anyhow::Result<App> {
    let cfg = repo.config()?;
    let main = cfg.project.main_branch.clone();
    // Names only: the details reader reads the heads (see Repo::branch_names).
    let refs = repo.branch_names(&main)?;
    let head = repo.head_state();
    let main_missing = repo.main_head(&main).is_none();
    let user = repo.user(&cfg);
    let base = state::Base {
        project: cfg.project.name.clone(),
        cfg,
        user,
        head,
        main_missing,
        refs,
    };
    let mut app = App::new(base, opts_readonly, user_cfg.ui.theme.clone());
    app.live = repo.state.read_live().ok().flatten();
    app.lock = crate::pipeline::team::lock_status(&repo.state.path);
    let (jobs, aborted) = crate::pipeline::jobs::clean_up_dead_jobs(repo, &app.cfg);
    if !aborted.is_empty() {
        app.message = Some(aborted.join("; "));
    }
    // A job another guardrail left running (its terminal went away): show it.
    let me = std::process::id();
    if let Some(job) = jobs.into_iter().find(|j| {
        j.state == crate::pipeline::jobs::JobState::Running
            && j.pid != me
            && crate::pipeline::jobs::job_alive(j)
    }) {
        let dir = repo.state.path.join("jobs").join(&job.id);
        app.attach(&job, dir);
    }
    Ok(app)
}

/// Reads everything at once (tests, snapshots): details of every branch and
/// the prod tags.
pub fn load_all(repo: &Repo, app: &mut App) -> anyhow::Result<()> {
    let main = repo.main_index(&app.cfg.project.main_branch)?;
    let ctx = package::Context::load(repo, &app.cfg).ok();
    let mut rows = Vec::new();
    let mut gone = Vec::new();
    for (i, b) in app.branches.iter().enumerate() {
        let info = match repo.branch_details(&b.r, main.as_ref()) {
            Err(crate::pipeline::repo::RepoError::UnknownBranch(_)) => {
                gone.push((i, b.r.name.clone()));
                continue;
            }
            r => r?,
        };
        let state = package_state(repo, &app.cfg, &info, ctx.as_ref());
        rows.push((i, info, state));
    }
    app.update(Msg::Details(rows));
    app.update(Msg::NotBranches(gone));
    let tags = repo.prod_tags(&app.cfg)?;
    app.update(Msg::Tags(tags));
    Ok(())
}

/// Runs the console until the user quits.
pub fn run(opts: Options) -> anyhow::Result<()> {
    // SAFETY: libgit2 is used from this thread only until the readers start
    // below.
    unsafe { crate::pipeline::repo::limit_git_commit_cache() };
    let repo = Repo::open(&opts.dir)?;
    if let Err(e) = keys::set_overrides(&opts.user.keys) {
        let file = UserConfig::path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        anyhow::bail!("{file}, {e}");
    }
    let mut app = initial_app(&repo, opts.readonly, &opts.user)?;
    app.coach = opts.drill.map(coach::Coach::new);
    let mouse = opts.user.ui.mouse;
    // The preview's image protocol, from the environment (never a query).
    app.review.images = crate::views::image::Pictures::from_setting(opts.user.ui.images, app.mono);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the runtime")?;
    let result = runtime.block_on(async {
        // Signals first: a TERM, INT or HUP from now on restores the terminal.
        let signals = Signals::new()?;
        install_panic_hook();
        enable_raw_mode().context("could not put the terminal in raw mode")?;
        let mut out = io::stdout();
        // A paste arrives whole, as text for the input line: its newlines
        // never answer a question.
        execute!(
            out,
            EnterAlternateScreen,
            cursor::Hide,
            EnableBracketedPaste
        )?;
        if mouse {
            execute!(out, EnableMouseCapture)?;
        }
        event_loop(&repo, &mut app, signals).await
    });
    restore_terminal();
    result
}

/// TERM, HUP and INT: each ends the console with the terminal restored.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
}

/// The package state of one branch (`None` when it cannot be judged).
fn package_state(
    repo: &Repo,
    cfg: &crate::pipeline::config::Config,
    info: &crate::pipeline::repo::BranchInfo,
    ctx: Option<&package::Context>,
) -> Option<crate::pipeline::handoff::PackageState> {
    package::state_only(repo, cfg, info, ctx?, crate::pipeline::audit::entry_hash_ok).ok()
}

/// Starts a background reader (branch details, tags, drift, the idle live
/// check) on a thread of its own. With `niced`, at the lowest CPU priority:
/// on a busy machine the screen and a running script come first, and the
/// reader takes what is left. A niced thread must not start processes (they
/// would inherit its priority): the drift watcher hands its reports to an
/// alerts thread at the normal priority. Results arrive as messages
/// whenever they are ready.
fn spawn_background(
    name: &'static str,
    niced: bool,
    tx: &mpsc::UnboundedSender<Msg>,
    work: impl FnOnce() + Send + 'static,
) {
    let tx = tx.clone();
    // A thread that cannot start leaves its pane as first drawn; the
    // console goes on without it.
    let _ = std::thread::Builder::new()
        .name(format!("gr-{name}"))
        .spawn(move || {
            if niced {
                crate::pipeline::jobs::lower_thread_priority();
            }
            guarded(name, &tx, work)
        });
}

/// A worker at the normal priority (see [`spawn_background`]).
fn spawn_worker(
    name: &'static str,
    tx: &mpsc::UnboundedSender<Msg>,
    work: impl FnOnce() + Send + 'static,
) {
    spawn_background(name, false, tx, work)
}

/// Runs a worker's `work`; a panic in it comes back to the loop as
/// `Msg::Error` (the terminal stays as it is: only a panic on the UI
/// thread restores it), and the console goes on without that worker.
fn guarded(name: &str, tx: &mpsc::UnboundedSender<Msg>, work: impl FnOnce()) {
    if fault(&format!("panic-in-{name}")) {
        let _ = std::panic::catch_unwind(|| panic!("injected fault: the {name} worker panics"))
            .map_err(|p| report_panic(name, tx, &*p));
        return;
    }
    tracing::debug!(worker = %name, "worker started");
    let t0 = std::time::Instant::now();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(()) => tracing::debug!(worker = %name, elapsed = ?t0.elapsed(), "worker ended"),
        Err(p) => {
            tracing::debug!(worker = %name, elapsed = ?t0.elapsed(), "worker failed: it panicked");
            report_panic(name, tx, &*p);
        }
    }
}

fn report_panic(name: &str, tx: &mpsc::UnboundedSender<Msg>, p: &(dyn std::any::Any + Send)) {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    let _ = tx.send(Msg::Error(format!(
        "the {name} worker failed ({what}); the console goes on without it"
    )));
}

/// Lets the background readers give way while a job's output streams in:
/// the loop notes when output last came, and a reader that asks waits until
/// the stream has been quiet for [`Pacer::QUIET`], or at most
/// [`Pacer::LONGEST`] so that a script printing all the time still leaves
/// the readers their turn.
#[derive(Clone)]
struct Pacer {
    base: std::time::Instant,
    /// Milliseconds after `base` (plus one) of the last output; 0 = none.
    last: Arc<std::sync::atomic::AtomicU64>,
}

impl Pacer {
    const QUIET: Duration = Duration::from_millis(100);
    const LONGEST: Duration = Duration::from_millis(250);

    fn new() -> Pacer {
        Pacer {
            base: std::time::Instant::now(),
            last: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_millis() as u64 + 1
    }

    /// Output came just now.
    fn busy(&self) {
        self.last
            .store(self.now(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Wait while output streams (see the type).
    fn wait(&self) {
        let started = std::time::Instant::now();
        loop {
            let last = self.last.load(std::sync::atomic::Ordering::Relaxed);
            let quiet =
                last == 0 || self.now().saturating_sub(last) >= Self::QUIET.as_millis() as u64;
            if quiet || started.elapsed() >= Self::LONGEST {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Shared between the loop and the details reader: rows to read first.
type Priority = Arc<Mutex<Vec<usize>>>;

fn spawn_details_reader(
    root: PathBuf,
    refs: Vec<BranchRef>,
    main_branch: String,
    priority: Priority,
    pacer: Pacer,
    tx: mpsc::UnboundedSender<Msg>,
) {
    spawn_background("details", true, &tx.clone(), move || {
        let Ok(repo) = Repo::open(&root) else { return };
        let Ok(main) = repo.main_index_paced(&main_branch, &mut || pacer.wait()) else {
            return;
        };
        let cfg = repo.config().ok();
        pacer.wait();
        let ctx = cfg
            .as_ref()
            .and_then(|c| package::Context::load(&repo, c).ok());
        let mut done = vec![false; refs.len()];
        let mut next = 0usize;
        let mut left = refs.len();
        while left > 0 {
            pacer.wait();
            let mut batch = Vec::new();
            let mut gone = Vec::new();
            let wanted: Vec<usize> = std::mem::take(&mut *priority.lock().expect("priority lock"));
            for i in wanted.into_iter().chain(next..refs.len()) {
                if i >= refs.len() || done[i] {
                    continue;
                }
                done[i] = true;
                left -= 1;
                match repo.branch_details(&refs[i], main.as_ref()) {
                    Ok(info) => {
                        let state = cfg
                            .as_ref()
                            .and_then(|c| package_state(&repo, c, &info, ctx.as_ref()));
                        batch.push((i, info, state));
                    }
                    // No head to read (a symbolic ref, a FIFO, a ref file
                    // that does not parse): no branch, as `status` says.
                    Err(crate::pipeline::repo::RepoError::UnknownBranch(_)) => {
                        gone.push((i, refs[i].name.clone()));
                    }
                    Err(_) => {}
                }
                if batch.len() + gone.len() >= 64 {
                    break;
                }
            }
            while next < refs.len() && done[next] {
                next += 1;
            }
            if !batch.is_empty() && tx.send(Msg::Details(batch)).is_err() {
                return;
            }
            if !gone.is_empty() && tx.send(Msg::NotBranches(gone)).is_err() {
                return;
            }
        }
    });
}

fn spawn_tags_reader(root: PathBuf, pacer: Pacer, tx: mpsc::UnboundedSender<Msg>) {
    spawn_background("tags", true, &tx.clone(), move || {
        pacer.wait();
        let msg = Repo::open(&root).map_err(|e| e.to_string()).and_then(|r| {
            let cfg = r.config().map_err(|e| e.to_string())?;
            r.prod_tags(&cfg).map_err(|e| e.to_string())
        });
        let _ = tx.send(match msg {
            Ok(t) => Msg::Tags(t),
            Err(e) => Msg::Error(e),
        });
    });
}

async fn event_loop(repo: &Repo, app: &mut App, mut sig: Signals) -> anyhow::Result<()> {
    // A frame goes out in one write, not in the line-buffered pieces of
    // stdout: fewer packets over SSH, and no half-drawn frame in a terminal
    // that ignores synchronized output.
    // A terminal with 16 colours gets 16-colour codes (see views::sgr16).
    let sixteen = !app.mono && app.colors == crate::views::theme::ColorMode::Ansi16;
    let backend = CrosstermBackend::new(crate::views::sgr16::Sgr16::new(
        io::BufWriter::with_capacity(256 * 1024, io::stdout()),
        sixteen,
    ));
    let mut terminal = Terminal::new(backend)?;
    let size = terminal.size()?;
    app.size = (size.width, size.height);

    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    // A running script's output comes on a bounded channel: when drawing
    // falls behind, the script waits (its pipe fills) instead of the
    // console's memory growing with everything it printed.
    let (run_tx, mut run_rx) = mpsc::channel::<Msg>(64);
    let priority: Priority = Arc::new(Mutex::new(app.rows_on_screen()));
    let pacer = Pacer::new();
    let start_readers = |app: &App, priority: &Priority| {
        spawn_tags_reader(repo.root.clone(), pacer.clone(), tx.clone());
        spawn_details_reader(
            repo.root.clone(),
            app.branches.iter().map(|b| b.r.clone()).collect(),
            app.cfg.project.main_branch.clone(),
            priority.clone(),
            pacer.clone(),
            tx.clone(),
        );
    };
    // First frame before any commit is read.
    draw(&mut terminal, app)?;
    start_readers(app, &priority);
    spawn_drift_watcher(repo.root.clone(), pacer.clone(), tx.clone());
    spawn_state_watcher(repo.state.clone(), tx.clone());
    // Team mode: the team lock holder and live record, in the background.
    if let Some(remote) = crate::pipeline::team::Remote::of(repo, &app.cfg) {
        crate::pipeline::team::spawn_refresher(
            remote,
            repo.state.path.clone(),
            Duration::from_secs(5),
        );
    }

    // The review worker reads what every assessment shares (tags, legacy
    // manifests, audit hashes) now, not on the first Enter.
    let mut assessor = Some(spawn_assessor(repo.root.clone(), pacer.clone(), tx.clone()));
    let mut play: Option<std::sync::mpsc::Sender<playbook::PlayCmd>> = None;
    let mut input = spawn_input_reader();
    let mut frame_tick = tokio::time::interval(Duration::from_millis(16));
    frame_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Background re-verification of production while idle ([live] poll).
    let poll_every = app
        .cfg
        .live
        .poll
        .nonzero()
        .filter(|_| !app.cfg.live.url.trim().is_empty());
    let mut poll_tick = tokio::time::interval(poll_every.unwrap_or(Duration::from_secs(3600)));
    poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let polling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    loop {
        // Input, the assessment a key asked for, a prompt and a job's end
        // are answered with a frame at once, not on the next tick.
        let mut now = false;
        tokio::select! {
            batch = input.recv(), if !app.detached => match batch {
                // A burst of keys is applied whole and draws one frame.
                Some(Ok(batch)) => {
                    for ev in batch {
                        if app.quit {
                            break;
                        }
                        on_terminal_event(app, ev);
                    }
                    now = true;
                }
                // The terminal went away: a running job goes on without it.
                Some(Err(_)) | None => app.detach(),
            },
            Some(msg) = rx.recv() => {
                now = matches!(msg, Msg::Assessed(..)) || msg.is_urgent();
                if msg.is_job_output() {
                    pacer.busy();
                }
                app.update(msg);
            }
            Some(msg) = run_rx.recv() => {
                if msg.is_job_output() {
                    pacer.busy();
                }
                now = msg.is_urgent();
                app.update(msg);
                // Take what else has arrived, then draw once.
                while let Ok(m) = run_rx.try_recv() {
                    now |= m.is_urgent();
                    app.update(m);
                }
            }
            _ = sig.term.recv() => app.stop_soon(),
            // SSH dropped: a running job goes on to its end (or waits at its
            // next prompt) and is recorded; nothing more is drawn.
            _ = sig.hup.recv() => app.detach(),
            _ = sig.int.recv() => app.stop_soon(),
            _ = poll_tick.tick(), if poll_every.is_some() => {
                if !app.job_running() && !polling.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    spawn_live_poll(app, tx.clone(), polling.clone());
                }
            }
            // Other worker news is drawn on the tick: at most ~60 frames a
            // second while a job streams output.
            _ = frame_tick.tick() => frame(&mut terminal, app, &priority),
        }
        if now && !app.quit {
            frame(&mut terminal, app, &priority);
        }
        if app.quit {
            break;
        }
        for req in std::mem::take(&mut app.requests) {
            // A job about to start has the machine first, from its checkout
            // on.
            if matches!(
                req,
                Request::Gate { .. }
                    | Request::Handoff { .. }
                    | Request::Playbook { .. }
                    | Request::Rollback { .. }
            ) {
                pacer.busy();
            }
            start_request(
                repo,
                req,
                tx.clone(),
                Workers {
                    assessor: &mut assessor,
                    play: &mut play,
                    run: &run_tx,
                    pacer: &pacer,
                },
            );
        }
        // Ctrl-R: the refs are listed on a worker, not on this loop.
        if app.refresh_requested {
            app.refresh_requested = false;
            let (root, main) = (repo.root.clone(), app.cfg.project.main_branch.clone());
            let done = tx.clone();
            spawn_worker("refresh", &tx, move || {
                let _ = done.send(match Repo::open(&root).and_then(|r| r.branch_refs(&main)) {
                    Ok(refs) => Msg::Refreshed(refs),
                    Err(e) => Msg::Error(e.to_string()),
                });
            });
        }
        if app.refreshed {
            app.refreshed = false;
            start_readers(app, &priority);
            // Packages are judged again against what is there now
            // (tags, legacy manifests, audit hashes).
            assessor = Some(spawn_assessor(repo.root.clone(), pacer.clone(), tx.clone()));
            app.forget_assessments();
        }
    }
    Ok(())
}

/// Terminal input, read on a thread of its own: a blocking read, then
/// whatever else was typed meanwhile, handed over as one batch. (crossterm's
/// `EventStream` polls its reader under a lock its waker thread holds while
/// it waits; a loop woken thousands of times a second by a script's output
/// spent its time contending for that lock.) An error ends the thread: the
/// terminal went away.
fn spawn_input_reader() -> mpsc::UnboundedReceiver<io::Result<Vec<Event>>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = std::thread::Builder::new()
        .name("gr-input".into())
        .spawn(move || loop {
            let batch = crossterm::event::read().and_then(|first| {
                let mut batch = vec![first];
                while crossterm::event::poll(Duration::ZERO)? {
                    batch.push(crossterm::event::read()?);
                }
                Ok(batch)
            });
            let failed = batch.is_err();
            if tx.send(batch).is_err() || failed {
                return;
            }
        });
    rx
}

/// Applies one terminal event.
fn on_terminal_event(app: &mut App, ev: Event) {
    match ev {
        Event::Key(k) => app.update(Msg::Key(k)),
        Event::Mouse(m) => app.update(Msg::Mouse(m)),
        Event::Resize(w, h) => app.update(Msg::Resize(w, h)),
        Event::Paste(text) => app.update(Msg::Paste(text)),
        _ => {}
    }
}

/// Draws a frame if something changed; the rows now on screen are read
/// before the rest.
fn frame<W: Write>(
    terminal: &mut Terminal<CrosstermBackend<W>>,
    app: &mut App,
    priority: &Priority,
) {
    if !app.dirty || app.detached {
        return;
    }
    let wanted = app.rows_on_screen();
    if !wanted.is_empty() {
        *priority.lock().expect("priority lock") = wanted;
    }
    if draw(terminal, app).is_err() {
        app.detach();
    }
}

/// Starts the work a key asked for, off the render loop.
/// Long-lived workers the console talks to.
struct Workers<'a> {
    assessor: &'a mut Option<std::sync::mpsc::Sender<(String, String)>>,
    play: &'a mut Option<std::sync::mpsc::Sender<playbook::PlayCmd>>,
    /// The bounded channel for a script's output.
    run: &'a mpsc::Sender<Msg>,
    pacer: &'a Pacer,
}

fn start_request(repo: &Repo, req: Request, tx: mpsc::UnboundedSender<Msg>, workers: Workers<'_>) {
    let assessor = workers.assessor;
    let root = repo.root.clone();
    match req {
        Request::Assess { branch, head } => {
            let sender =
                assessor.get_or_insert_with(|| spawn_assessor(root, workers.pacer.clone(), tx));
            let _ = sender.send((branch, head));
        }
        Request::Attach { dir } => spawn_attach(dir, tx),
        Request::Search(ask) => {
            let done = tx.clone();
            spawn_worker("search", &tx, move || {
                let hit = log::search(&ask.source, &ask.needle, ask.from, ask.back);
                let _ = done.send(Msg::SearchDone(ask.seq, hit));
            });
        }
        Request::PlanRollback { target } => {
            spawn_worker("plan", &tx.clone(), move || {
                let r = Repo::open(&root)
                    .map_err(|e| e.to_string())
                    .and_then(|repo| {
                        let cfg = repo.config().map_err(|e| e.to_string())?;
                        if target.is_some() {
                            let live = repo.state.read_live().ok().flatten();
                            let default = crate::pipeline::rollback::default_target(
                                &repo,
                                &cfg,
                                live.as_ref(),
                            );
                            let _ = tx.send(Msg::RollbackDefault(default.map(|t| t.name)));
                        }
                        crate::pipeline::rollback::plan(&repo, &cfg, target.as_deref(), true)
                            .map_err(|e| e.to_string())
                    });
                let _ = tx.send(Msg::RollbackPlan(Box::new(r)));
            });
        }
        Request::Rollback { plan, reason } => spawn_rollback(root, plan, reason, tx),
        Request::Preview {
            branch,
            head,
            name,
            max,
            max_file,
        } => {
            spawn_worker("preview", &tx.clone(), move || {
                let r = Repo::open(&root)
                    .map_err(|e| e.to_string())
                    .and_then(|repo| {
                        let oid = git2::Oid::from_str(&head).map_err(|e| e.to_string())?;
                        package::evidence_file(&repo, &branch, oid, &name, max_file)
                            .map_err(|e| e.to_string())
                    })
                    .and_then(|bytes| crate::pipeline::evidence::thumbnail(&bytes, max.0, max.1));
                let _ = tx.send(Msg::Preview(branch, name, r));
            });
        }
        Request::Records => {
            spawn_worker("records", &tx.clone(), move || {
                let _ = tx.send(Msg::Records(Box::new(read_records(&root))));
            });
        }
        Request::WriteReport { path, text } => {
            if let Err(e) = std::fs::write(&path, text) {
                let _ = tx.send(Msg::Error(format!(
                    "the drill report could not be written to {}: {e}",
                    path.display()
                )));
            }
        }
        Request::Playbook { branch } => {
            *workers.play = Some(spawn_playbook(root, branch, tx));
        }
        Request::Play(cmd) => {
            if let Some(p) = workers.play.as_ref() {
                let _ = p.send(cmd);
            }
        }
        // Dropping the sender ends the worker, which held nothing yet.
        Request::ClosePlaybook => *workers.play = None,
        Request::ReadState => {
            let state = repo.state.clone();
            spawn_worker("state", &tx.clone(), move || {
                let _ = tx.send(read_state(&state));
            });
        }
        Request::AcceptGuard { branch, head } => {
            spawn_worker("guard", &tx.clone(), move || {
                let r = accept_guard(&root, &branch, &head);
                if let Err(e) = &r {
                    let _ = tx.send(Msg::Error(e.clone()));
                }
                // The list's badge as well, before the review is redrawn.
                if let Ok((_, Some(state))) = &r {
                    let _ = tx.send(Msg::PackageState(branch.clone(), *state));
                }
                let _ = tx.send(Msg::Assessed(branch, r.map(|(a, _)| Arc::new(a))));
            });
        }
        Request::Handoff { branch, evidence } => {
            let run = workers.run.clone();
            let ended = workers.run.clone();
            // A relative directory is the repository's, as the console has
            // no other working directory to offer.
            let evidence = evidence.map(|d| root.join(d));
            let started = std::thread::Builder::new()
                .name("gr-handoff".into())
                .spawn(move || {
                    let end = run_handoff(&root, &branch, evidence, &run);
                    let _ = run.blocking_send(Msg::Run(RunMsg::Done(end)));
                });
            if let Err(e) = started {
                let _ = ended.try_send(Msg::Run(RunMsg::Done(job::JobEnd {
                    ok: false,
                    summary: format!("the handoff could not start: {e}"),
                })));
            }
        }
        Request::Gate { branch } => {
            let run = workers.run.clone();
            let ended = workers.run.clone();
            let started = std::thread::Builder::new()
                .name("gr-gate".into())
                .spawn(move || {
                    let end = run_gate(&root, &branch, &run);
                    // After the output, on the same channel, so it comes last.
                    let _ = run.blocking_send(Msg::Run(RunMsg::Done(end)));
                });
            if let Err(e) = started {
                let _ = ended.try_send(Msg::Run(RunMsg::Done(job::JobEnd {
                    ok: false,
                    summary: format!("the gate could not start: {e}"),
                })));
            }
        }
    }
}

/// Records the acknowledgement of `branch`'s guard changes and judges the
/// branch again with the audit chain read afresh: its assessment for the
/// review, and its package state as the branch list computes its badge.
fn accept_guard(
    root: &std::path::Path,
    branch: &str,
    head: &str,
) -> Result<
    (
        package::Assessment,
        Option<crate::pipeline::handoff::PackageState>,
    ),
    String,
> {
    let repo = Repo::open(root).map_err(|e| e.to_string())?;
    let cfg = repo.config().map_err(|e| e.to_string())?;
    let b = repo
        .find_branch_head(&cfg, branch)
        .map_err(|e| e.to_string())?;
    let user = repo.user(&cfg);
    if !user.release_manager && !repo.is_drill() {
        return Err(format!("{} is not a release manager", user.name));
    }
    crate::pipeline::handoff::guard::accept(&repo, &cfg, &b, &user.name)
        .map_err(|e| e.to_string())?;
    let ctx = package::Context::load(&repo, &cfg).map_err(|e| e.to_string())?;
    let oid = git2::Oid::from_str(head).map_err(|e| e.to_string())?;
    let a = package::assess_head(
        &repo,
        &cfg,
        branch,
        oid,
        &ctx,
        crate::pipeline::audit::entry_hash_ok,
    )
    .map_err(|e| e.to_string())?;
    Ok((a, package_state(&repo, &cfg, &b, Some(&ctx))))
}

/// One thread judges packages for the review screen, newest request first,
/// with the context (tags, legacy manifests, audit hashes) read once.
fn spawn_assessor(
    root: PathBuf,
    pacer: Pacer,
    tx: mpsc::UnboundedSender<Msg>,
) -> std::sync::mpsc::Sender<(String, String)> {
    let (req_tx, req_rx) = std::sync::mpsc::channel::<(String, String)>();
    let _ = std::thread::Builder::new()
        .name("gr-assess".into())
        .spawn(move || {
            // Read ahead of the first Enter, unless a job is starting.
            pacer.wait();
            let setup = Repo::open(&root).map_err(|e| e.to_string()).and_then(|r| {
                let cfg = r.config().map_err(|e| e.to_string())?;
                let ctx = package::Context::load(&r, &cfg).map_err(|e| e.to_string())?;
                Ok((r, cfg, ctx))
            });
            while let Ok(mut req) = req_rx.recv() {
                // Only the newest request matters when keys outrun the reader.
                while let Ok(newer) = req_rx.try_recv() {
                    req = newer;
                }
                let (branch, head) = req;
                let result = match &setup {
                    Err(e) => Err(e.clone()),
                    Ok((repo, cfg, ctx)) => git2::Oid::from_str(&head)
                        .map_err(|e| e.to_string())
                        .and_then(|oid| {
                            package::assess_head(
                                repo,
                                cfg,
                                &branch,
                                oid,
                                ctx,
                                crate::pipeline::audit::entry_hash_ok,
                            )
                            .map_err(|e| e.to_string())
                        })
                        .map(Arc::new),
                };
                if tx.send(Msg::Assessed(branch, result)).is_err() {
                    return;
                }
            }
        });
    req_tx
}

/// One background verification of production against the live record's
/// BUILD_ID; shown in the header, not recorded (deploys, rollbacks and
/// `guardrail verify` record theirs).
fn spawn_live_poll(
    app: &App,
    tx: mpsc::UnboundedSender<Msg>,
    busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use crate::pipeline::verify::{self, Expect, VerifyOptions};
    let url = app.cfg.live.url.clone();
    let checks = app.cfg.live.check.clone();
    let opts = VerifyOptions::from_config(&app.cfg.live);
    let expect = Expect {
        build_id: app.live.as_ref().map(|l| l.build_id.clone()),
        baseline: None,
        manifest: None,
    };
    spawn_background("live-poll", true, &tx.clone(), move || {
        let report = verify::run(&url, &checks, &expect, opts, |_| {});
        let failing: Vec<String> = report.failures().map(|c| c.name.clone()).collect();
        busy.store(false, std::sync::atomic::Ordering::SeqCst);
        let _ = tx.send(Msg::LivePoll(report.ok, failing, chrono::Utc::now()));
    });
}

/// Drift, re-checked at start, every minute, and within a second of a
/// watched file or directory, the baseline or a ref changing on disk: the
/// kernel says so ([`crate::pipeline::watch`]), and a few `stat`s every
/// 300 ms stay as the fallback (no watcher; network filesystems).
fn spawn_drift_watcher(root: PathBuf, pacer: Pacer, tx: mpsc::UnboundedSender<Msg>) {
    use crate::pipeline::drift;
    use std::time::{Instant, SystemTime};
    // Alerts go out from a thread at the normal priority: the commands they
    // start inherit the priority of the thread that starts them.
    let (alert_tx, alert_rx) = std::sync::mpsc::channel::<drift::DriftReport>();
    let alert_root = root.clone();
    let _ = std::thread::Builder::new()
        .name("gr-alerts".into())
        .spawn(move || {
            let Ok(repo) = Repo::open(&alert_root) else {
                return;
            };
            let Ok(cfg) = repo.config() else { return };
            for report in alert_rx {
                let _ = drift::notify(&repo, &cfg, &report);
            }
        });
    spawn_background("drift", true, &tx.clone(), move || {
        let Ok(repo) = Repo::open(&root) else { return };
        let Ok(cfg) = repo.config() else { return };
        let paths = crate::pipeline::watch::drift_paths(&root, repo.git.commondir(), &cfg);
        let mut watch = crate::pipeline::watch::Watch::start(&paths).ok();
        let signature = |paths: &[PathBuf]| -> Vec<Option<(SystemTime, u64)>> {
            paths
                .iter()
                .map(|p| {
                    std::fs::metadata(p)
                        .ok()
                        .and_then(|m| Some((m.modified().ok()?, m.len())))
                })
                .collect()
        };
        let mut last = None;
        let mut checked = Instant::now() - Duration::from_secs(3600);
        let mut woke = false;
        loop {
            let sig = signature(&paths);
            if woke || last.as_ref() != Some(&sig) || checked.elapsed() >= Duration::from_secs(60) {
                pacer.wait();
                last = Some(sig);
                checked = Instant::now();
                let r = drift::check(&repo, &cfg, false).map_err(|e| e.to_string());
                if let Ok(report) = &r {
                    let _ = alert_tx.send(report.clone());
                }
                if tx.send(Msg::Drift(Box::new(r))).is_err() {
                    return;
                }
            }
            woke = crate::pipeline::watch::wait_or_sleep(&mut watch, Duration::from_millis(300));
        }
    });
}

/// The live record and the lock as the state directory says now: the same
/// reads the rollback dialog's plan makes.
fn read_state(state: &crate::pipeline::state::StateDir) -> Msg {
    // Unreadable (caught mid-write, say): the header keeps what it had.
    let live = state.read_live().ok().map(|l| l.map(Box::new));
    Msg::State(live, crate::pipeline::team::lock_status(&state.path))
}

/// The header's live record and lock, read again within a third of a
/// second of a state file changing (the live record, the lock's holder,
/// the freeze, a job starting or ending), by polling their metadata on a
/// thread of its own, off the render path — a few `stat`s each time.
fn spawn_state_watcher(state: crate::pipeline::state::StateDir, tx: mpsc::UnboundedSender<Msg>) {
    use std::time::SystemTime;
    spawn_background("state", false, &tx.clone(), move || {
        let dir = &state.path;
        let paths = [
            state.live_path(),
            dir.join(crate::pipeline::lock::LOCK_INFO_FILE),
            dir.join(crate::pipeline::lock::FREEZE_FILE),
            dir.join(crate::pipeline::team::LOCK_CACHE_FILE),
            dir.join("jobs"),
        ];
        let signature = || -> Vec<Option<(SystemTime, u64)>> {
            paths
                .iter()
                .map(|p| {
                    std::fs::metadata(p)
                        .ok()
                        .and_then(|m| Some((m.modified().ok()?, m.len())))
                })
                .collect()
        };
        let mut last = signature();
        // A lock freed by the kernel (its holder ended or died) changes no
        // file: while the lock is held, it is probed on each tick too.
        let mut held = crate::pipeline::team::lock_status(dir).held.is_some();
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = signature();
            let freed = held && crate::pipeline::team::lock_status(dir).held.is_none();
            if now != last || freed {
                last = now;
                let msg = read_state(&state);
                if let Msg::State(_, lock) = &msg {
                    held = lock.held.is_some();
                }
                if tx.send(msg).is_err() {
                    return;
                }
            }
        }
    });
}

/// Carries out a confirmed rollback; its steps and checks come back as
/// playbook events.
fn spawn_rollback(
    root: PathBuf,
    plan: Box<crate::pipeline::rollback::Plan>,
    reason: String,
    tx: mpsc::UnboundedSender<Msg>,
) {
    spawn_worker("rollback", &tx.clone(), move || {
        let events = tx.clone();
        let mut ev = move |e| {
            let _ = events.send(Msg::Play(PlayMsg::Event(e)));
        };
        let result = Repo::open(&root)
            .map_err(|e| e.to_string())
            .and_then(|repo| {
                let cfg = repo.config().map_err(|e| e.to_string())?;
                let r = crate::pipeline::rollback::rollback(
                    &repo,
                    &cfg,
                    &plan,
                    &reason,
                    crate::pipeline::runner::Answers::Interactive,
                    &mut ev,
                );
                // Nothing ran: the dialog asks again, on the new plan.
                if let Err(crate::pipeline::rollback::RollbackError::PlanChanged {
                    changes,
                    plan,
                }) = &r
                {
                    let _ = tx.send(Msg::RollbackPlanChanged(
                        changes.clone(),
                        plan.clone(),
                        reason.clone(),
                    ));
                }
                let r = r.map_err(|e| e.to_string());
                Ok((r, repo.state.read_live().ok().flatten()))
            });
        let (r, live) = match result {
            Ok((r, live)) => (r, live),
            Err(e) => (Err(e), None),
        };
        let _ = tx.send(Msg::Play(PlayMsg::RollbackEnded(
            Box::new(r),
            live.map(Box::new),
        )));
    });
}

/// The audit chain's verdict and its last entries, and the rollout log.
pub fn read_records(root: &std::path::Path) -> state::RecordsView {
    let mut view = state::RecordsView::default();
    let Ok(repo) = Repo::open(root) else {
        view.verdict = format!("{} is not a repository any more", root.display());
        return view;
    };
    let Ok(cfg) = repo.config() else {
        view.verdict = "the configuration cannot be read".into();
        return view;
    };
    let log = crate::pipeline::record::audit_log(&repo);
    let checkpoint = repo.prod_tags(&cfg).ok().and_then(|tags| {
        crate::pipeline::audit::highest_checkpoint(
            tags.iter()
                .rev()
                .map(|t| (t.name.as_str(), t.message.as_deref())),
        )
        .map(|(_, c)| c)
    });
    match log.verify(checkpoint.as_ref()) {
        Ok(r) => {
            view.intact = r.is_intact();
            view.verdict = r.to_string();
        }
        Err(e) => view.verdict = e.to_string(),
    }
    view.entries = log
        .tail(200)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            format!(
                "#{:<4} {} {:<9} {:<9} {:<8} {}",
                r.seq, r.time, r.actor, r.action, r.result, r.target
            )
        })
        .collect();
    let rollout = crate::pipeline::config::resolve(&repo.root, &cfg.project.rollout_log);
    view.rollout_log = std::fs::read_to_string(&rollout)
        .unwrap_or_else(|_| format!("{} does not exist yet", rollout.display()));
    view
}

/// Follows another process's job: new output, the prompt it waits at, and
/// its end, as the same messages a job of our own sends.
fn spawn_attach(dir: PathBuf, tx: mpsc::UnboundedSender<Msg>) {
    use crate::pipeline::jobs::{self, JobState};
    use crate::pipeline::runner::RunEvent;
    spawn_worker("attach", &tx.clone(), move || {
        use std::io::{Read, Seek, SeekFrom};
        let log = dir.join("output.log");
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let state = dir
            .parent()
            .and_then(|p| p.parent())
            .map(PathBuf::from)
            .unwrap_or_default();
        let mut pos = 0u64;
        let mut prompt: Option<String> = None;
        loop {
            let rec = jobs::find(&state, &id).map(|r| r.0);
            if let Ok(mut f) = std::fs::File::open(&log) {
                let mut buf = Vec::new();
                if f.seek(SeekFrom::Start(pos)).is_ok()
                    && f.read_to_end(&mut buf).is_ok()
                    && !buf.is_empty()
                {
                    pos += buf.len() as u64;
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if tx
                        .send(Msg::Run(RunMsg::Event(RunEvent::Output(text))))
                        .is_err()
                    {
                        return;
                    }
                }
            }
            let now = crate::pipeline::attach::read_prompt(&dir);
            if now != prompt {
                // The prompt's text is in the log already (partial lines
                // are written as they come): it is shown once, not again.
                if let Some(p) = &now {
                    let _ = tx.send(Msg::Run(RunMsg::Event(RunEvent::Prompt(p.clone()))));
                }
                prompt = now;
            }
            let running = rec
                .as_ref()
                .is_some_and(|r| r.state == JobState::Running && jobs::job_alive(r));
            if !running {
                let (ok, summary) = match rec {
                    Some(r) => (
                        matches!(r.result.as_deref(), Some("PASS" | "RELEASED" | "OK")),
                        r.summary.unwrap_or_else(|| r.result.unwrap_or_default()),
                    ),
                    None => (false, "the job's journal is gone".into()),
                };
                let _ = tx.send(Msg::Run(RunMsg::Done(job::JobEnd { ok, summary })));
                return;
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    });
}

/// The playbook of one branch, run step by step on the console's commands.
/// The worker owns the pipeline's `Playbook` (its lock and checkout).
fn spawn_playbook(
    root: PathBuf,
    branch: String,
    tx: mpsc::UnboundedSender<Msg>,
) -> std::sync::mpsc::Sender<playbook::PlayCmd> {
    use crate::pipeline::playbook::Playbook;
    use crate::pipeline::runner::Answers;
    let (cmd_tx, cmd_rx) = std::sync::mpsc::channel::<playbook::PlayCmd>();
    spawn_worker("playbook", &tx.clone(), move || {
        let send = |m: PlayMsg| {
            let _ = tx.send(Msg::Play(m));
        };
        let setup = Repo::open(&root).map_err(|e| e.to_string()).and_then(|r| {
            let cfg = r.config().map_err(|e| e.to_string())?;
            let pb = Playbook::new(&r, &cfg, &branch, Answers::Interactive)
                .map_err(|e| e.to_string())?;
            Ok((r, pb))
        });
        let (repo, mut pb) = match setup {
            Ok(x) => x,
            Err(e) => return send(PlayMsg::Ended(Box::new(Err(e)), None)),
        };
        while let Ok(cmd) = cmd_rx.recv() {
            if cmd == playbook::PlayCmd::Abandon {
                let summary = pb.abandon(&repo);
                let live = repo.state.read_live().ok().flatten();
                return send(PlayMsg::Ended(Box::new(Err(summary)), live.map(Box::new)));
            }
            let events = tx.clone();
            let mut ev = move |e| {
                let _ = events.send(Msg::Play(PlayMsg::Event(e)));
            };
            let r = pb.run_next(&repo, &mut ev);
            let live = repo.state.read_live().ok().flatten();
            match r {
                Err(e) => {
                    return send(PlayMsg::Ended(
                        Box::new(Err(e.to_string())),
                        live.map(Box::new),
                    ))
                }
                Ok(()) => match pb.outcome.clone() {
                    Some(o) => return send(PlayMsg::Ended(Box::new(Ok(o)), live.map(Box::new))),
                    None => send(PlayMsg::Idle),
                },
            }
        }
    });
    cmd_tx
}

/// `h`: the branch's handoff package, made by the pipeline function
/// `guardrail handoff` runs (`handoff_make::make`, with the gate's handle
/// for the input line): the gate's output in the log pane, its prompts in
/// the input line, the package written as the command writes it (not
/// committed, as without `--commit`).
fn run_handoff(
    root: &std::path::Path,
    branch: &str,
    evidence: Option<PathBuf>,
    run: &mpsc::Sender<Msg>,
) -> job::JobEnd {
    use crate::pipeline::handoff::make::{self as handoff_make, MakeOptions};
    use crate::pipeline::runner::Answers;
    let fail = |summary: String| job::JobEnd { ok: false, summary };
    let repo = match Repo::open(root) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let cfg = match repo.config() {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let opts = MakeOptions {
        branch: Some(branch.to_string()),
        tag: None,
        evidence,
        commit: false,
        summary: None,
        answers: Answers::Interactive,
    };
    let started = run.clone();
    let events = run.clone();
    let made = handoff_make::make_with(
        &repo,
        &cfg,
        opts,
        move |h, log| {
            let _ = started.blocking_send(Msg::Run(RunMsg::Started(h, log.to_path_buf())));
        },
        move |ev| {
            let _ = events.blocking_send(Msg::Run(RunMsg::Event(ev)));
        },
    );
    match made {
        Ok(m) => {
            let evidence = m
                .files
                .iter()
                .filter(|f| f.starts_with("evidence/"))
                .count();
            job::JobEnd {
                ok: m.verdict == crate::pipeline::gate::Verdict::Pass,
                summary: format!(
                    "gate {} (audit #{}); wrote {}/ with {evidence} evidence file{} in {}; proposed {}",
                    m.verdict.as_str(),
                    m.gate.audit_seq,
                    m.package_dir,
                    if evidence == 1 { "" } else { "s" },
                    m.worktree,
                    m.proposed_tag
                ),
            }
        }
        Err(e) => fail(e.to_string()),
    }
}

fn run_gate(root: &std::path::Path, branch: &str, run: &mpsc::Sender<Msg>) -> job::JobEnd {
    use crate::pipeline::gate;
    use crate::pipeline::runner::Answers;
    let fail = |summary: String| job::JobEnd { ok: false, summary };
    let repo = match Repo::open(root) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let cfg = match repo.config() {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let b = match repo.find_branch_head(&cfg, branch) {
        Ok(b) => b,
        Err(e) => return fail(e.to_string()),
    };
    let started = run.clone();
    let events = run.clone();
    let result = gate::run(
        &repo,
        &cfg,
        &b,
        Answers::Interactive,
        move |h, log| {
            let _ = started.blocking_send(Msg::Run(RunMsg::Started(h, log.to_path_buf())));
        },
        move |ev| {
            let _ = events.blocking_send(Msg::Run(RunMsg::Event(ev)));
        },
    );
    match result {
        Ok(r) => job::JobEnd {
            ok: r.verdict == gate::Verdict::Pass,
            summary: format!(
                "gate {} in {:.1}s (audit #{})",
                r.verdict.as_str(),
                r.duration_ms as f64 / 1000.0,
                r.audit_seq
            ),
        },
        Err(e) => fail(e.to_string()),
    }
}

/// Fault injection for the reliability tests: `GUARDRAIL_FAULT=panic-on-draw`
/// makes drawing the help overlay panic, to prove the terminal is restored.
fn fault(name: &str) -> bool {
    std::env::var("GUARDRAIL_FAULT").is_ok_and(|v| v == name)
}

fn draw<W: Write>(terminal: &mut Terminal<CrosstermBackend<W>>, app: &mut App) -> io::Result<()> {
    if app.help_open() && fault("panic-on-draw") {
        panic!("injected fault: panic while drawing (GUARDRAIL_FAULT=panic-on-draw)");
    }
    queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    let mut hits = Default::default();
    let r = terminal
        .draw(|f| hits = crate::views::draw_hits(f, app))
        .map(|_| ());
    app.mouse.hits = hits;
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    r?;
    app.dirty = false;
    Ok(())
}
