//! Live-verification concurrency benchmark.
//!
//! A local server (tests/common/http.rs) answers every request after
//! `BENCH_DELAY_MS` (default 200 ms). For `BENCH_RUNS` runs each (default 5,
//! after one warm-up), measures the wall time of `verify::run` with
//! (a) one check, (b) `BENCH_CHECKS` checks (default 20, each a GET with
//! status, contains and BUILD_ID conditions), and reports the ratio of the
//! medians: with the checks run concurrently it stays near 1 (target < 1.2×
//! the single check), where one after the other would be ~20×.
//!
//! Run: `cargo bench --bench verify_concurrency`.

#[path = "../tests/common/http.rs"]
mod http;

use std::time::{Duration, Instant};

use guardrail::pipeline::config::LiveCheck;
use guardrail::pipeline::verify::{self, Expect, VerifyOptions};
use http::{HttpServer, Reply};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runs = env_u64("BENCH_RUNS", 5) as usize;
    let n = env_u64("BENCH_CHECKS", 20) as usize;
    let delay = Duration::from_millis(env_u64("BENCH_DELAY_MS", 200));

    let server = HttpServer::start();
    let page = "<html><body><div id=\"authModal\"></div>\n<script>const PS101State = {};</script>\n<!-- BUILD_ID:bench-1 -->\n</body></html>\n";
    let checks: Vec<LiveCheck> = (0..n)
        .map(|i| {
            let path = format!("/page{i}");
            server.route(&path, Reply::ok(page).delayed(delay));
            LiveCheck {
                name: format!("check {i}"),
                path,
                status: Some(200),
                contains: vec!["authModal".into(), "PS101State".into()],
                build_id: true,
                ..LiveCheck::default()
            }
        })
        .collect();
    let expect = Expect {
        build_id: Some("bench-1".into()),
        ..Expect::default()
    };
    let opts = VerifyOptions {
        deadline: Duration::from_secs(30),
        request_timeout: Duration::from_secs(10),
        first_backoff: Duration::from_millis(250),
    };
    let url = server.url();
    let measure = |checks: &[LiveCheck]| -> Duration {
        let t0 = Instant::now();
        let r = verify::run(&url, checks, &expect, opts, |_| {});
        let took = t0.elapsed();
        assert!(r.ok, "the benchmark's checks must pass: {r:#?}");
        assert!(r.checks.iter().all(|c| c.attempts == 1));
        took
    };

    println!(
        "verify concurrency bench: server delay {} ms, {n} checks vs 1, {runs} runs after 1 warm-up",
        delay.as_millis()
    );
    measure(&checks[..1]);
    measure(&checks);
    let mut single = Vec::new();
    let mut all = Vec::new();
    for _ in 0..runs {
        single.push(measure(&checks[..1]));
        all.push(measure(&checks));
    }
    let (s_min, s_max) = (single.iter().min().unwrap(), single.iter().max().unwrap());
    let (a_min, a_max) = (all.iter().min().unwrap(), all.iter().max().unwrap());
    let s = median(single.clone());
    let a = median(all.clone());
    let ratio = a.as_secs_f64() / s.as_secs_f64();
    println!(
        "  1 check:   median {:7.1} ms  (min {:.1}, max {:.1})",
        ms(s),
        ms(*s_min),
        ms(*s_max)
    );
    println!(
        "  {n:>2} checks: median {:7.1} ms  (min {:.1}, max {:.1}); one after the other would be ≥ {:.0} ms",
        ms(a),
        ms(*a_min),
        ms(*a_max),
        ms(delay) * n as f64
    );
    println!(
        "  ratio {n} checks / 1 check: {ratio:.3}× (target < 1.2×): {}",
        if ratio < 1.2 { "met" } else { "NOT met" }
    );
}
