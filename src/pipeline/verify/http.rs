//! HTTP: the client (timeouts, same-origin redirects, capped bodies), URLs,
//! error wording, and fetching one page.
use super::*;

pub(super) fn same_origin_or_upgrade(from: &reqwest::Url, to: &reqwest::Url) -> bool {
    if from.host_str() != to.host_str() {
        return false;
    }
    match (from.scheme(), to.scheme()) {
        (a, b) if a == b => from.port_or_known_default() == to.port_or_known_default(),
        // http://h/ → https://h/ on the default ports: an upgrade.
        ("http", "https") => from.port().is_none() && to.port().is_none(),
        _ => false,
    }
}

pub(super) fn client(opts: &VerifyOptions) -> Result<reqwest::Client, String> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.stop();
        }
        let ok = match attempt.previous().last() {
            Some(prev) => same_origin_or_upgrade(prev, attempt.url()),
            None => true,
        };
        if ok {
            attempt.follow()
        } else {
            // Hand the redirect answer back; `evaluate` names the host.
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .connect_timeout(opts.request_timeout)
        .user_agent(concat!(
            "guardrail/",
            env!("CARGO_PKG_VERSION"),
            " (live verification)"
        ))
        .build()
        .map_err(|e| format!("could not set up the HTTP client: {}", error_chain(&e)))
}

/// The error with its causes, most specific last, without repeats.
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

pub(super) fn describe(e: &reqwest::Error, url: &str) -> String {
    // The innermost cause says what happened ("Connection refused").
    let mut inner: &(dyn std::error::Error + 'static) = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    let cause = inner.to_string();
    if e.is_connect() {
        format!("could not connect to {url}: {cause}")
    } else if e.is_timeout() {
        format!("no answer from {url}: {cause}")
    } else if e.is_redirect() {
        format!("redirect failed: {cause}")
    } else {
        format!("request to {url} failed: {}", error_chain(e))
    }
}

pub(super) async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<Answer, String> {
    let t0 = std::time::Instant::now();
    let r = fetch_unlogged(client, url).await;
    // The debug log: URL (user-info masked), status, time; never the body.
    let shown = crate::pipeline::runner::mask_url_userinfo(url.as_str());
    match &r {
        Ok(a) => {
            tracing::debug!(url = %shown, status = a.status.as_u16(), elapsed = ?t0.elapsed(), "HTTP GET")
        }
        Err(e) => {
            tracing::debug!(url = %shown, error = %crate::pipeline::runner::mask_url_userinfo(e), elapsed = ?t0.elapsed(), "HTTP GET failed")
        }
    }
    r
}

async fn fetch_unlogged(client: &reqwest::Client, url: &reqwest::Url) -> Result<Answer, String> {
    let mut resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| describe(&e, url.as_str()))?;
    let status = resp.status();
    let final_url = resp.url().clone();
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > BODY_CAP {
                    return Err(format!(
                        "the answer from {final_url} is larger than {} MiB",
                        BODY_CAP >> 20
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(format!(
                    "reading the answer from {final_url} failed: {}",
                    error_chain(&e)
                ))
            }
        }
    }
    Ok(Answer {
        status,
        url: final_url,
        location,
        body,
    })
}

/// One bounded attempt.
pub(super) async fn attempt(
    client: &reqwest::Client,
    url: &reqwest::Url,
    timeout: Duration,
) -> Result<Answer, String> {
    match tokio::time::timeout(timeout, fetch(client, url)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer from {url} within {} (request_timeout)",
            Dur(timeout)
        )),
    }
}

/// `base` + `path`, with exactly one `/` between them.
pub(super) fn join_url(base: &str, path: &str) -> Result<reqwest::Url, String> {
    let base = base.trim().trim_end_matches('/');
    let path = path.trim();
    let full = if path.is_empty() {
        format!("{base}/")
    } else if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    };
    parse_url(&full)
}

/// An absolute http or https URL.
pub(super) fn parse_url(s: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(s).map_err(|e| format!("`{s}` is not a valid URL: {e}"))?;
    match u.scheme() {
        "http" | "https" if u.host_str().is_some() => Ok(u),
        _ => Err(format!("`{s}` is not an http or https URL")),
    }
}

/// One page as fetched by [`fetch_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The URL that answered (after same-host redirects).
    pub url: String,
    pub status: u16,
    pub body: Vec<u8>,
}

/// One GET of `base` + `path`, bounded by `timeout`, with the same client
/// rules as the checks (same-host redirects only, [`BODY_CAP`]). No retry.
/// Runs its own small runtime on its own thread, so it may be called from
/// any thread. A non-2xx answer is an `Ok` page; the caller judges it.
pub fn fetch_page(base: &str, path: &str, timeout: Duration) -> Result<Page, String> {
    let url = join_url(base, path)?;
    let opts = VerifyOptions {
        request_timeout: timeout,
        ..VerifyOptions::default()
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("could not start the HTTP runtime: {e}"))?;
            let client = client(&opts)?;
            let r = rt.block_on(attempt(&client, &url, timeout));
            rt.shutdown_background();
            let a = r?;
            if a.status.is_redirection() {
                return Err(redirect_failure(&a));
            }
            Ok(Page {
                url: a.url.to_string(),
                status: a.status.as_u16(),
                body: a.body,
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the HTTP thread failed".into()))
    })
}
