//! Watching the router: its kernel route's next hops (polled, and timed precisely with
//! `ip monitor`), and a `curl` loop that keeps asking the service while things fail.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Netns;

/// `ip monitor route nexthop` in a namespace; every line is stamped with the instant it
/// arrived. Killed on drop.
#[derive(Debug)]
pub struct RouteWatch {
    child: Child,
    events: Arc<Mutex<Vec<(Instant, String)>>>,
    reader: Option<JoinHandle<()>>,
}

impl RouteWatch {
    /// Start watching route and next-hop changes in `ns`.
    pub fn start(ns: &Netns) -> crate::Result<RouteWatch> {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &ns.name, "monitor", "route", "nexthop"]);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| crate::Error::Spawn {
                cmd: format!("ip -n {} monitor route nexthop", ns.name),
                source,
            })?;
        let events = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take();
        let ev = Arc::clone(&events);
        let reader = std::thread::spawn(move || {
            let Some(out) = out else { return };
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let now = Instant::now();
                if let Ok(mut v) = ev.lock() {
                    v.push((now, line));
                }
            }
        });
        Ok(RouteWatch {
            child,
            events,
            reader: Some(reader),
        })
    }

    /// The lines seen after `t`, with their arrival instants.
    pub fn events_after(&self, t: Instant) -> Vec<(Instant, String)> {
        self.events
            .lock()
            .map(|v| v.iter().filter(|(i, _)| *i > t).cloned().collect())
            .unwrap_or_default()
    }
}

impl Drop for RouteWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// A route change, timed from an instant `t0` (just before the action that caused it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Time until the kernel route changed: the first `ip monitor` line of the burst that
    /// the poll confirmed, or the poll itself when the monitor saw nothing.
    pub elapsed: Duration,
    /// Time until a poll of `ip route show` first saw the wanted state.
    pub polled: Duration,
    /// Whether `elapsed` comes from `ip monitor`.
    pub by_monitor: bool,
    /// The next hops seen by that poll.
    pub nexthops: Vec<IpAddr>,
}

/// Why waiting for a route state stopped.
#[derive(Debug)]
pub enum WaitError {
    /// The deadline passed; the last next hops seen (or the last error).
    Timeout(String),
    /// The stop flag was raised (Ctrl-C).
    Interrupted,
}

/// Poll the kernel route to `prefix` in `ns` (about every 5 ms) until `want` holds for
/// its next hops; time it from `t0`, refined with `watch`'s events (the earliest line of
/// the burst within 50 ms before the confirming poll).
pub fn wait_route(
    ns: &Netns,
    prefix: &str,
    watch: Option<&RouteWatch>,
    t0: Instant,
    deadline: Duration,
    stop: &AtomicBool,
    want: impl Fn(&[IpAddr]) -> bool,
) -> Result<Change, WaitError> {
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(WaitError::Interrupted);
        }
        let last = match ns.route_nexthops(prefix) {
            Ok(mut hops) => {
                let now = Instant::now();
                hops.sort();
                if want(&hops) {
                    let polled = now - t0;
                    let burst = watch
                        .map(|w| w.events_after(t0))
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(i, _)| i)
                        .filter(|i| *i <= now && now - *i <= Duration::from_millis(50))
                        .min();
                    return Ok(Change {
                        elapsed: burst.map_or(polled, |i| i - t0),
                        polled,
                        by_monitor: burst.is_some(),
                        nexthops: hops,
                    });
                }
                format!("{hops:?}")
            }
            Err(e) => format!("error: {e}"),
        };
        if t0.elapsed() >= deadline {
            return Err(WaitError::Timeout(last));
        }
        std::thread::sleep(Duration::from_millis(3));
    }
}

/// One HTTP request to the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// When it started.
    pub start: Instant,
    /// How long it took.
    pub took: Duration,
    /// The node that answered (the page's text), or curl's error.
    pub answer: Result<String, String>,
}

/// `curl` once from `ns` to `http://<addr>/` (a new TCP connection, so a new source port);
/// the answer is the page's text, trimmed.
pub fn curl_once(ns: &Netns, addr: &str, max_time: Duration) -> Request {
    let start = Instant::now();
    let out = ns
        .command("curl")
        .args(["-sS", "--max-time"])
        .arg(format!("{:.1}", max_time.as_secs_f64()))
        .arg(format!("http://{addr}/"))
        .stdin(Stdio::null())
        .output();
    let answer = match out {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(format!(
            "{} ({})",
            String::from_utf8_lossy(&o.stderr).trim(),
            o.status
        )),
        Err(e) => Err(format!("cannot run curl: {e}")),
    };
    Request {
        start,
        took: start.elapsed(),
        answer,
    }
}

/// Requests slower than this are reported as slow (a SYN lost to a dead node and
/// retransmitted one second later on the new route).
pub const SLOW: Duration = Duration::from_millis(250);

/// A thread requesting the service one request after the other until stopped.
#[derive(Debug)]
pub struct CurlLoop {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Request>>,
}

impl CurlLoop {
    /// Start requesting `http://<addr>/` from `ns`, each request with `max_time`.
    pub fn start(ns: Netns, addr: String, max_time: Duration) -> CurlLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut v = Vec::new();
            while !s.load(Ordering::Relaxed) {
                v.push(curl_once(&ns, &addr, max_time));
            }
            v
        });
        CurlLoop { stop, handle }
    }

    /// Stop after the request in flight and return what was seen.
    pub fn stop(self) -> CurlStats {
        self.stop.store(true, Ordering::Relaxed);
        CurlStats::of(self.handle.join().unwrap_or_default())
    }
}

/// What a [`CurlLoop`] saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurlStats {
    /// Every request, in order.
    pub requests: Vec<Request>,
    /// Successful requests.
    pub ok: usize,
    /// Failed requests' errors.
    pub failed: Vec<String>,
    /// Successful requests slower than [`SLOW`].
    pub slow: usize,
    /// Successful requests per answering node.
    pub by_node: BTreeMap<String, usize>,
}

impl CurlStats {
    /// Count the requests.
    pub fn of(requests: Vec<Request>) -> CurlStats {
        let mut s = CurlStats::default();
        for r in &requests {
            match &r.answer {
                Ok(node) => {
                    s.ok += 1;
                    *s.by_node.entry(node.clone()).or_default() += 1;
                    if r.took > SLOW {
                        s.slow += 1;
                    }
                }
                Err(e) => s.failed.push(e.clone()),
            }
        }
        s.requests = requests;
        s
    }

    /// One line: `212 ok (n1 80, n2 50, n3 82), 0 failed, 1 slow (max 1021 ms)`.
    pub fn line(&self) -> String {
        let nodes: Vec<String> = self
            .by_node
            .iter()
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        let max = self
            .requests
            .iter()
            .map(|r| r.took)
            .max()
            .unwrap_or_default();
        format!(
            "{} ok ({}), {} failed, {} slow (> {} ms; longest {} ms)",
            self.ok,
            nodes.join(", "),
            self.failed.len(),
            self.slow,
            SLOW.as_millis(),
            max.as_millis()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_stats_count_nodes_failures_and_slow_requests() {
        let t = Instant::now();
        let req = |ms: u64, a: Result<&str, &str>| Request {
            start: t,
            took: Duration::from_millis(ms),
            answer: a.map(str::to_string).map_err(str::to_string),
        };
        let s = CurlStats::of(vec![
            req(10, Ok("n1")),
            req(12, Ok("n2")),
            req(1020, Ok("n1")),
            req(2000, Err("curl: (28) timeout")),
        ]);
        assert_eq!(s.ok, 3);
        assert_eq!(s.slow, 1);
        assert_eq!(s.failed, vec!["curl: (28) timeout".to_string()]);
        assert_eq!(s.by_node.get("n1"), Some(&2));
        assert_eq!(s.by_node.get("n2"), Some(&1));
        assert_eq!(
            s.line(),
            "3 ok (n1 2, n2 1), 1 failed, 1 slow (> 250 ms; longest 2000 ms)"
        );
    }
}
