//! The demo scene: a router with one ECMP route to a service address through three nodes,
//! a node failing, BFD removing it in well under a second, the service never stopping.
//!
//! [`run`] builds the topology of `interop-lab.md` in a [`Lab`] (router namespace with FRR
//! or BIRD, a switch namespace, nodes n1..n3 running speakerd or BIRD and a small web
//! server on 203.0.113.100), narrates each step with the real command output, measures
//! the failover, recovery and clean-stop times, and removes everything it created on every
//! exit path (the caller's stop flag, raised on Ctrl-C, ends every wait).
//! The `demo` binary (`interop/src/bin/demo.rs`) is its command line; `make demo` runs it.

use std::fmt;
use std::io::{IsTerminal as _, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::bird::Bird;
use crate::frr::Frr;
use crate::{Lab, Netns, Port, signal};

pub mod config;
pub mod watch;

use config::{NodeSpec, ROUTER_ADDR, SERVICE, SERVICE_PREFIX};
use watch::{Change, CurlLoop, CurlStats, RouteWatch, WaitError};

/// Which daemon plays the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterKind {
    /// FRR 8: zebra + bfdd + bgpd.
    Frr,
    /// BIRD 2 with a kernel protocol (`merge paths on`).
    Bird,
}

/// Which daemon runs on the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// speakerd (this project).
    Speakerd,
    /// BIRD 2, for comparison.
    Bird,
}

impl fmt::Display for RouterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouterKind::Frr => "frr",
            RouterKind::Bird => "bird",
        })
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeKind::Speakerd => "speakerd",
            NodeKind::Bird => "bird",
        })
    }
}

impl std::str::FromStr for RouterKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "frr" => Ok(RouterKind::Frr),
            "bird" => Ok(RouterKind::Bird),
            _ => Err(format!("unknown router {s:?} (frr or bird)")),
        }
    }
}

impl std::str::FromStr for NodeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "speakerd" => Ok(NodeKind::Speakerd),
            "bird" => Ok(NodeKind::Bird),
            _ => Err(format!("unknown nodes {s:?} (speakerd or bird)")),
        }
    }
}

/// How to run the scene.
#[derive(Debug, Clone)]
pub struct Options {
    /// The router daemon.
    pub router: RouterKind,
    /// The node daemon.
    pub nodes: NodeKind,
    /// CI mode: every check that fails ends the run at once with the router's view; no
    /// pauses.
    pub ci: bool,
    /// The speakerd binary (needed when `nodes` is speakerd).
    pub speakerd: Option<PathBuf>,
    /// Pause after each step so a person can read it (interactive mode only).
    pub pause: Duration,
}

/// BFD detection time of the scene plus the margin allowed for the router and the kernel.
pub const FAILOVER_LIMIT: Duration = Duration::from_millis(3 * 100 + 400);
/// How long the sessions may take to come up (or back up).
pub const CONVERGE_LIMIT: Duration = Duration::from_secs(60);
/// Failed requests allowed per curl loop in a step: the request in flight when the node
/// failed (its connection dies with the node).
pub const CURL_FAILURES_ALLOWED: usize = 1;

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// What was measured.
    pub what: String,
    /// The measured figure.
    pub measured: String,
    /// The limit checked in CI mode (empty when none).
    pub limit: String,
    /// Whether the check passed.
    pub ok: bool,
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The summary table.
    pub rows: Vec<Row>,
    /// Time from a node's port going down until the router's kernel route lost it.
    pub failover: Option<Duration>,
    /// Time from the port coming back until the route had three next hops again.
    pub recovery: Option<Duration>,
    /// Time from SIGTERM to n3's daemon until the route lost it.
    pub clean_stop: Option<Duration>,
    /// Time from start until the route first had three next hops.
    pub converge: Option<Duration>,
}

impl Report {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.rows.iter().all(|r| r.ok)
    }

    /// The summary as an aligned text table.
    pub fn table(&self) -> String {
        let w0 = self.rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.measured.chars().count())
            .max()
            .unwrap_or(0)
            .max(8);
        let w2 = self
            .rows
            .iter()
            .map(|r| r.limit.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let mut s = format!(
            "  {:<w0$}  {:<w1$}  {:<w2$}  result\n",
            "step", "measured", "limit"
        );
        for r in &self.rows {
            let pad1 = w1 - r.measured.chars().count();
            let pad2 = w2 - r.limit.chars().count();
            s.push_str(&format!(
                "  {:<w0$}  {}{}  {}{}  {}\n",
                r.what,
                r.measured,
                " ".repeat(pad1),
                r.limit,
                " ".repeat(pad2),
                if r.ok { "ok" } else { "FAILED" }
            ));
        }
        s
    }

    /// One machine-readable line: `router=frr nodes=speakerd failover_ms=312 ...`.
    pub fn line(&self, opts: &Options) -> String {
        let ms = |d: Option<Duration>| d.map_or("-".to_string(), |d| d.as_millis().to_string());
        format!(
            "router={} nodes={} converge_ms={} failover_ms={} recovery_ms={} clean_stop_ms={} ok={}",
            opts.router,
            opts.nodes,
            ms(self.converge),
            ms(self.failover),
            ms(self.recovery),
            ms(self.clean_stop),
            self.ok()
        )
    }
}

/// The measured times of several runs side by side (one column per node daemon), e.g.
/// speakerd against BIRD on the nodes with the same router.
pub fn compare(runs: &[(NodeKind, Report)]) -> String {
    type Pick = fn(&Report) -> Option<Duration>;
    let rows: [(&str, Pick); 4] = [
        ("start: route with three next hops", |r| r.converge),
        ("n2 port down -> next hop removed (BFD)", |r| r.failover),
        ("n2 port up -> three next hops again", |r| r.recovery),
        ("n3 SIGTERM -> next hop removed", |r| r.clean_stop),
    ];
    let w0 = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut s = format!("  {:<w0$}", "nodes:");
    for (k, _) in runs {
        s.push_str(&format!("  {:>10}", k.to_string()));
    }
    s.push('\n');
    for (name, pick) in rows {
        s.push_str(&format!("  {name:<w0$}"));
        for (_, r) in runs {
            let v = pick(r).map_or("-".to_string(), fmt_s);
            s.push_str(&format!("  {v:>10}"));
        }
        s.push('\n');
    }
    s.push_str(&format!("  {:<w0$}", "all checks"));
    for (_, r) in runs {
        s.push_str(&format!("  {:>10}", if r.ok() { "ok" } else { "FAILED" }));
    }
    s.push('\n');
    s
}

/// Why a run ended early.
#[derive(Debug)]
pub enum DemoError {
    /// The stop flag was raised (Ctrl-C or SIGTERM).
    Interrupted,
    /// A step failed; `view` is the router's own account of the situation.
    Failed {
        /// The step.
        step: String,
        /// What went wrong.
        message: String,
        /// The router's view (and the nodes' logs).
        view: String,
    },
    /// The lab could not be built.
    Lab(crate::Error),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Interrupted => f.write_str("interrupted"),
            DemoError::Failed {
                step,
                message,
                view,
            } => {
                write!(f, "{step}: {message}")?;
                if !view.is_empty() {
                    write!(f, "\n\n--- the router's view ---\n{view}")?;
                }
                Ok(())
            }
            DemoError::Lab(e) => write!(f, "lab: {e}"),
        }
    }
}

impl std::error::Error for DemoError {}

impl From<crate::Error> for DemoError {
    fn from(e: crate::Error) -> Self {
        DemoError::Lab(e)
    }
}

/// Prints headings, commands and their output.
#[derive(Debug)]
struct Narrator {
    tty: bool,
    pause: Duration,
}

impl Narrator {
    fn heading(&self, title: &str) {
        if self.tty {
            println!("\n\x1b[1;36m== {title} ==\x1b[0m");
        } else {
            println!("\n== {title} ==");
        }
    }

    fn say(&self, text: &str) {
        println!("{text}");
        let _ = std::io::stdout().flush();
    }

    fn output(&self, cmd: &str, out: &str) {
        if self.tty {
            println!("\x1b[1m$ {cmd}\x1b[0m");
        } else {
            println!("$ {cmd}");
        }
        for l in out.trim_end().lines() {
            println!("    {l}");
        }
        let _ = std::io::stdout().flush();
    }

    fn result(&self, ok: bool, text: &str) {
        let mark = match (ok, self.tty) {
            (true, true) => "\x1b[1;32m✔\x1b[0m",
            (true, false) => "ok:",
            (false, true) => "\x1b[1;31m✘\x1b[0m",
            (false, false) => "FAILED:",
        };
        println!("{mark} {text}");
        let _ = std::io::stdout().flush();
    }
}

/// The router daemon of a run.
#[derive(Debug)]
enum Router {
    Frr(Frr),
    Bird(Bird),
}

impl Router {
    fn bfd_up(&self) -> crate::Result<usize> {
        match self {
            Router::Frr(f) => {
                let v = f.bfd_peers_json()?;
                Ok(v.as_array()
                    .map(|a| a.iter().filter(|p| p["status"] == "up").count())
                    .unwrap_or(0))
            }
            Router::Bird(b) => {
                let out = b.birdc("show bfd sessions")?;
                Ok(out
                    .lines()
                    .filter(|l| l.split_whitespace().nth(2) == Some("Up"))
                    .count())
            }
        }
    }

    /// Step 1's commands: (what to print, output).
    fn views(&self) -> Vec<(String, String)> {
        let cmds: &[&str] = match self {
            Router::Frr(_) => &["show bgp ipv4 unicast", "show bfd peers brief"],
            Router::Bird(_) => &[
                "show protocols",
                "show route 203.0.113.100/32",
                "show bfd sessions",
            ],
        };
        cmds.iter().map(|c| self.show(c)).collect()
    }

    fn show(&self, cmd: &str) -> (String, String) {
        match self {
            Router::Frr(f) => (
                format!("vtysh -c '{cmd}'          # in the router namespace"),
                f.vtysh(cmd).unwrap_or_else(|e| format!("(failed: {e})")),
            ),
            Router::Bird(b) => (
                format!("birdc {cmd}          # in the router namespace"),
                b.birdc(cmd).unwrap_or_else(|e| format!("(failed: {e})")),
            ),
        }
    }

    fn bfd_view(&self) -> (String, String) {
        match self {
            Router::Frr(_) => self.show("show bfd peers brief"),
            Router::Bird(_) => self.show("show bfd sessions"),
        }
    }

    fn log(&self) -> PathBuf {
        match self {
            Router::Frr(f) => f.dir.join("bgpd.log"),
            Router::Bird(b) => b.dir.join("bird.log"),
        }
    }

    /// The router's log from byte `offset` on.
    fn log_since(&self, offset: usize) -> String {
        let text = std::fs::read(self.log()).unwrap_or_default();
        String::from_utf8_lossy(text.get(offset..).unwrap_or_default()).into_owned()
    }

    /// The size of the router's log now (for [`Router::log_since`]).
    fn log_len(&self) -> usize {
        std::fs::metadata(self.log()).map_or(0, |m| m.len() as usize)
    }

    /// Lines of the router's log (from byte `offset` on) that report a NOTIFICATION
    /// received from `addr`.
    fn notifications(&self, offset: usize, addr: &str) -> Vec<String> {
        self.log_since(offset)
            .lines()
            .filter(|l| match self {
                Router::Frr(_) => l.contains("NOTIFICATION") && l.contains(addr),
                // BIRD names the dynamic protocol, not the address; only n3 stops here.
                Router::Bird(_) => l.contains("Received:"),
            })
            .map(str::to_string)
            .collect()
    }

    /// What the router logged (from byte `offset` on) about the session to `addr` going
    /// down: FRR names the neighbour; BIRD names its dynamic protocol, and only one session
    /// changes in the step, so every state or BFD line counts.
    fn down_lines(&self, offset: usize, addr: &str) -> Vec<String> {
        self.log_since(offset)
            .lines()
            .filter(|l| match self {
                Router::Frr(_) => l.contains(addr),
                Router::Bird(_) => l.contains("BFD session down") || l.contains("State changed"),
            })
            .map(str::to_string)
            .collect()
    }

    fn grep_label(&self, what: &str) -> String {
        format!("grep {what} {}", self.log().display())
    }

    fn view(&self) -> String {
        match self {
            Router::Frr(f) => format!(
                "{}\n--- show bfd peers brief ---\n{}",
                f.view(),
                f.vtysh("show bfd peers brief").unwrap_or_default()
            ),
            Router::Bird(b) => format!(
                "{}\n--- show bfd sessions ---\n{}",
                b.view(),
                b.birdc("show bfd sessions").unwrap_or_default()
            ),
        }
    }
}

/// One node of a run.
#[derive(Debug)]
struct NodeRun {
    spec: NodeSpec,
    port: Port,
    /// speakerd's pid (speakerd nodes; BIRD's is read from its pid file when needed).
    pid: Option<u32>,
    bird: Option<Bird>,
    log: PathBuf,
}

impl NodeRun {
    fn view(&self) -> String {
        match &self.bird {
            Some(b) => b.view(),
            None => format!(
                "speakerd {} (log tail):\n{}",
                self.spec.name,
                crate::tail(&self.log, 15)
            ),
        }
    }
}

/// Raise when asked; every wait of the scene checks it.
fn interrupted(stop: &AtomicBool) -> Result<(), DemoError> {
    if stop.load(Ordering::Relaxed) {
        Err(DemoError::Interrupted)
    } else {
        Ok(())
    }
}

/// Sleep `d`, waking early (with an error) when `stop` is raised.
fn nap(d: Duration, stop: &AtomicBool) -> Result<(), DemoError> {
    let end = Instant::now() + d;
    loop {
        interrupted(stop)?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

fn fmt_ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn fmt_s(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        fmt_ms(d)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn hops(list: &[&NodeSpec]) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = list.iter().filter_map(|n| n.addr.parse().ok()).collect();
    v.sort();
    v
}

/// Remove what a lab with this prefix left behind (processes, namespaces) and its
/// directory, without the [`Lab`] itself: for a second Ctrl-C, or when the scene does not
/// stop in time after the first.
pub fn emergency_cleanup(prefix: &str, dir: Option<&Path>) {
    let names = namespaces_with_prefix(prefix);
    let pids = |names: &[String]| -> Vec<u32> {
        names
            .iter()
            .flat_map(|n| {
                Netns {
                    name: n.clone(),
                    short: String::new(),
                }
                .pids()
            })
            .collect()
    };
    signal(&pids(&names), "TERM");
    std::thread::sleep(Duration::from_millis(500));
    signal(&pids(&names), "KILL");
    for n in &names {
        let _ = crate::ip(&["netns", "del", n]);
    }
    if let Some(d) = dir {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Namespaces whose name starts with `<prefix>-`.
pub fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    crate::ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .map(str::to_string)
        .collect()
}

/// Run the scene. `on_lab` is called once the lab exists (with its prefix and directory,
/// so a signal handler can clean up if the scene cannot). Everything is removed before
/// this returns, whatever happened; the report's last row says whether any namespace was
/// left behind.
pub fn run(
    opts: &Options,
    stop: &AtomicBool,
    on_lab: impl FnOnce(&Lab),
) -> Result<Report, DemoError> {
    let mut lab = Lab::new()?;
    on_lab(&lab);
    let prefix = lab.prefix().to_string();
    let narrator = Narrator {
        tty: std::io::stdout().is_terminal(),
        pause: if opts.ci { Duration::ZERO } else { opts.pause },
    };
    let mut report = Report::default();
    let res = Scene {
        lab: &mut lab,
        opts,
        stop,
        n: &narrator,
        report: &mut report,
    }
    .play();
    narrator.heading("Cleaning up");
    drop(lab);
    let left = namespaces_with_prefix(&prefix);
    narrator.result(
        left.is_empty(),
        &format!(
            "every process stopped, namespaces {prefix}-* removed{}",
            if left.is_empty() {
                String::new()
            } else {
                format!(" — LEFT: {left:?}")
            }
        ),
    );
    res?;
    report.rows.push(Row {
        what: "cleanup: namespaces left behind".into(),
        measured: left.len().to_string(),
        limit: "0".into(),
        ok: left.is_empty(),
    });
    if opts.ci && !left.is_empty() {
        return Err(DemoError::Failed {
            step: "cleanup".into(),
            message: format!("namespaces left behind: {left:?}"),
            view: String::new(),
        });
    }
    Ok(report)
}

struct Scene<'a> {
    lab: &'a mut Lab,
    opts: &'a Options,
    stop: &'a AtomicBool,
    n: &'a Narrator,
    report: &'a mut Report,
}

/// Everything built by the setup, used by the steps.
struct World {
    router_ns: Netns,
    router: Router,
    nodes: Vec<NodeRun>,
    watch: Option<RouteWatch>,
}

impl World {
    fn view(&self) -> String {
        let mut s = self.router.view();
        s.push_str(&format!(
            "\n--- kernel route (ip route show {SERVICE_PREFIX}) ---\n{}",
            self.router_ns
                .route_show(SERVICE_PREFIX)
                .unwrap_or_default()
        ));
        for n in &self.nodes {
            s.push_str(&format!("\n--- node {} ---\n{}", n.spec.name, n.view()));
        }
        s
    }

    fn route_cmd(&self) -> (String, String) {
        (
            format!("ip -n {} route show {SERVICE_PREFIX}", self.router_ns.name),
            self.router_ns
                .route_show(SERVICE_PREFIX)
                .unwrap_or_else(|e| format!("(failed: {e})")),
        )
    }
}

impl Scene<'_> {
    fn pause(&self) -> Result<(), DemoError> {
        nap(self.n.pause, self.stop)
    }

    /// Record a check; in CI mode a failed check ends the run with the router's view.
    fn check(
        &mut self,
        w: &World,
        row: Row,
        message: impl FnOnce() -> String,
    ) -> Result<(), DemoError> {
        self.n
            .result(row.ok, &format!("{}: {}", row.what, row.measured));
        let ok = row.ok;
        let what = row.what.clone();
        self.report.rows.push(row);
        if !ok && self.opts.ci {
            return Err(DemoError::Failed {
                step: what,
                message: message(),
                view: w.view(),
            });
        }
        Ok(())
    }

    fn fail(&self, w: &World, step: &str, message: String) -> DemoError {
        DemoError::Failed {
            step: step.into(),
            message,
            view: w.view(),
        }
    }

    fn wait_route(
        &self,
        w: &World,
        step: &str,
        t0: Instant,
        deadline: Duration,
        want: &[IpAddr],
    ) -> Result<Change, DemoError> {
        watch::wait_route(
            &w.router_ns,
            SERVICE_PREFIX,
            w.watch.as_ref(),
            t0,
            deadline,
            self.stop,
            |h| h == want,
        )
        .map_err(|e| match e {
            WaitError::Interrupted => DemoError::Interrupted,
            WaitError::Timeout(last) => self.fail(
                w,
                step,
                format!(
                    "the router's route to {SERVICE_PREFIX} did not reach next hops {want:?} within {deadline:?}; last seen: {last}"
                ),
            ),
        })
    }

    fn play(mut self) -> Result<(), DemoError> {
        let w = self.setup()?;
        self.step_views(&w)?;
        self.step_curl(&w)?;
        self.step_failover(&w)?;
        self.step_recovery(&w)?;
        self.step_clean_stop(&w)
    }

    fn setup(&mut self) -> Result<World, DemoError> {
        let opts = self.opts;
        let n = self.n;
        n.heading(&format!(
            "Setting up: router ({}) + switch + three nodes ({})",
            opts.router, opts.nodes
        ));
        let specs = config::nodes();
        let mut members: Vec<(&str, Vec<String>)> = vec![("router", vec!["192.0.2.1/24".into()])];
        for s in &specs {
            members.push((&s.name, vec![format!("{}/24", s.addr)]));
        }
        let refs: Vec<Vec<&str>> = members
            .iter()
            .map(|(_, a)| a.iter().map(String::as_str).collect())
            .collect();
        let list: Vec<(&str, &[&str])> = members
            .iter()
            .zip(&refs)
            .map(|((name, _), a)| (*name, a.as_slice()))
            .collect();
        let seg = self.lab.segment(&list)?;
        let router_ns = seg.nodes[0].ns.clone();
        n.say(&format!(
            "namespaces: {} (bridge br0), {}",
            seg.switch.name,
            seg.nodes
                .iter()
                .map(|x| x.ns.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        // L4 hashing: requests from the router use new source ports, so they spread over
        // the next hops (the default L3 hash would send them all to one node).
        router_ns.exec("sysctl", &["-qw", "net.ipv4.fib_multipath_hash_policy=1"])?;
        n.say("router: net.ipv4.fib_multipath_hash_policy=1 (ECMP hashes on ports too)");
        let router = match opts.router {
            RouterKind::Frr => {
                Router::Frr(Frr::start(self.lab, &router_ns, &config::frr_router())?)
            }
            RouterKind::Bird => {
                Router::Bird(Bird::start(self.lab, &router_ns, &config::bird_router())?)
            }
        };
        n.say(&format!(
            "router: {} started, AS 64500, {ROUTER_ADDR}, dynamic neighbours from 192.0.2.0/24, BFD 3 x 100 ms",
            match opts.router {
                RouterKind::Frr => "FRR (zebra, bfdd, bgpd)",
                RouterKind::Bird => "BIRD 2 (kernel protocol with merge paths)",
            }
        ));
        let watch = RouteWatch::start(&router_ns).ok();
        let t_start = Instant::now();
        let mut nodes = Vec::new();
        for (spec, node) in specs.iter().zip(&seg.nodes[1..]) {
            nodes.push(self.start_node(spec, node)?);
        }
        let w = World {
            router_ns,
            router,
            nodes,
            watch,
        };
        n.say("waiting for the router to install one route with three next hops...");
        let all = hops(&specs.iter().collect::<Vec<_>>());
        let c = self.wait_route(&w, "start", t_start, CONVERGE_LIMIT, &all)?;
        self.report.converge = Some(c.elapsed);
        self.check(
            &w,
            Row {
                what: "start: route with three next hops".into(),
                measured: fmt_s(c.elapsed),
                limit: format!("< {} s", CONVERGE_LIMIT.as_secs()),
                ok: true,
            },
            String::new,
        )?;
        let start = Instant::now();
        loop {
            interrupted(self.stop)?;
            if w.router.bfd_up().unwrap_or(0) == 3 {
                break;
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err(self.fail(
                    &w,
                    "start",
                    "the router does not see three BFD sessions Up within 20 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        n.result(true, "three BFD sessions Up at the router");
        Ok(w)
    }

    fn start_node(&mut self, spec: &NodeSpec, node: &crate::Node) -> Result<NodeRun, DemoError> {
        let ns = &node.ns;
        ns.ip(&["addr", "add", SERVICE_PREFIX, "dev", "lo"])?;
        let web = self.lab.subdir(&format!("web-{}", spec.name))?;
        std::fs::write(web.join("index.html"), format!("{}\n", spec.name)).map_err(|source| {
            crate::Error::Io {
                what: "writing index.html".into(),
                source,
            }
        })?;
        let mut py = ns.command("python3");
        py.args(["-m", "http.server", "80", "--bind", SERVICE, "--directory"])
            .arg(&web);
        let web_log = web.join("http.log");
        self.lab
            .spawn(&format!("web {}", spec.name), py, &web_log)?;
        let dir = self.lab.subdir(&format!("node-{}", spec.name))?;
        let (pid, bird, log) = match self.opts.nodes {
            NodeKind::Speakerd => {
                let bin = self
                    .opts
                    .speakerd
                    .clone()
                    .ok_or_else(|| DemoError::Failed {
                        step: "start".into(),
                        message: "no speakerd binary (build it: cargo build --release -p speakerd)"
                            .into(),
                        view: String::new(),
                    })?;
                let cfg = dir.join("speakerd.toml");
                std::fs::write(&cfg, config::speakerd_config(spec)).map_err(|source| {
                    crate::Error::Io {
                        what: "writing speakerd.toml".into(),
                        source,
                    }
                })?;
                let check = Command::new(&bin)
                    .arg("check")
                    .arg("--config")
                    .arg(&cfg)
                    .output();
                match check {
                    Ok(o) if o.status.success() => {}
                    Ok(o) => {
                        return Err(DemoError::Failed {
                            step: format!("start {}", spec.name),
                            message: format!(
                                "`speakerd check` rejects the demo configuration:\n{}{}{}\n--- {} ---\n{}",
                                String::from_utf8_lossy(&o.stdout),
                                String::from_utf8_lossy(&o.stderr),
                                if String::from_utf8_lossy(&o.stderr).contains("announce") {
                                    "(this speakerd does not know `[[announce]]` yet: \
                                     run the demo with BIRD on the nodes, `--nodes bird`)\n"
                                } else {
                                    ""
                                },
                                cfg.display(),
                                config::speakerd_config(spec)
                            ),
                            view: String::new(),
                        });
                    }
                    Err(e) => {
                        return Err(DemoError::Failed {
                            step: format!("start {}", spec.name),
                            message: format!("cannot run {}: {e}", bin.display()),
                            view: String::new(),
                        });
                    }
                }
                let mut cmd = ns.command(&bin);
                cmd.arg("--config").arg(&cfg);
                cmd.env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or("info".into()),
                );
                let log = dir.join("speakerd.log");
                let pid = self
                    .lab
                    .spawn(&format!("speakerd {}", spec.name), cmd, &log)?;
                self.n.say(&format!(
                    "{}: speakerd started (AS {}, {}), config {}",
                    spec.name,
                    spec.asn,
                    spec.addr,
                    cfg.display()
                ));
                (Some(pid), None, log)
            }
            NodeKind::Bird => {
                let b = Bird::start(self.lab, ns, &config::bird_node(spec))?;
                // BIRD writes its pid file after it daemonized: read at the clean stop.
                let pid = None;
                self.n.say(&format!(
                    "{}: BIRD started (AS {}, {})",
                    spec.name, spec.asn, spec.addr
                ));
                let log = b.dir.join("bird.log");
                (pid, Some(b), log)
            }
        };
        // The web server answers on the service address inside the node.
        let t = Instant::now();
        loop {
            interrupted(self.stop)?;
            let r = watch::curl_once(ns, SERVICE, Duration::from_secs(1));
            if r.answer.as_deref() == Ok(spec.name.as_str()) {
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                return Err(DemoError::Failed {
                    step: format!("start {}", spec.name),
                    message: format!(
                        "the web server does not answer on {SERVICE} inside {}: {:?}\n{}",
                        spec.name,
                        r.answer,
                        crate::tail(&web_log, 10)
                    ),
                    view: String::new(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(NodeRun {
            spec: spec.clone(),
            port: node.port.clone(),
            pid,
            bird,
            log,
        })
    }

    fn step_views(&mut self, w: &World) -> Result<(), DemoError> {
        self.n
            .heading("1. The router's view: BGP, BFD, and one kernel route with three next hops");
        for (cmd, out) in w.router.views() {
            self.n.output(&cmd, &out);
        }
        let (cmd, out) = w.route_cmd();
        self.n.output(&cmd, &out);
        self.pause()
    }

    fn step_curl(&mut self, w: &World) -> Result<(), DemoError> {
        self.n
            .heading("2. curl http://203.0.113.100/ from the router: ECMP spreads the connections");
        let mut seen = std::collections::BTreeSet::new();
        let mut count = 0;
        while seen.len() < 3 && count < 30 {
            interrupted(self.stop)?;
            count += 1;
            let r = watch::curl_once(&w.router_ns, SERVICE, Duration::from_secs(2));
            match &r.answer {
                Ok(node) => {
                    seen.insert(node.clone());
                    self.n.say(&format!(
                        "    request {count:2}: answered by {node} ({} ms)",
                        r.took.as_millis()
                    ));
                }
                Err(e) => self.n.say(&format!("    request {count:2}: FAILED {e}")),
            }
        }
        let row = Row {
            what: "curl: nodes answering".into(),
            measured: format!("{} of 3 in {count} requests", seen.len()),
            limit: "3".into(),
            ok: seen.len() == 3,
        };
        self.check(w, row, || {
            format!("only {seen:?} answered in {count} requests")
        })?;
        self.pause()
    }

    fn curl_row(&mut self, w: &World, what: &str, s: &CurlStats) -> Result<(), DemoError> {
        let row = Row {
            what: format!("curl during {what}"),
            measured: format!("{} ok, {} failed", s.ok, s.failed.len()),
            limit: format!("<= {CURL_FAILURES_ALLOWED} failed"),
            ok: s.ok > 0 && s.failed.len() <= CURL_FAILURES_ALLOWED,
        };
        self.n.say(&format!("curl loop: {}", s.line()));
        for e in &s.failed {
            self.n.say(&format!("    failed: {e}"));
        }
        let failed = s.failed.clone();
        self.check(w, row, || {
            format!("more requests failed than were in flight when the node failed: {failed:?}")
        })
    }

    fn step_failover(&mut self, w: &World) -> Result<(), DemoError> {
        let n2 = &w.nodes[1];
        self.n
            .heading("3. n2 fails: its switch port goes down (the router's own link stays up)");
        self.n
            .say("curl keeps requesting the service, one connection after the other...");
        let curl = CurlLoop::start(w.router_ns.clone(), SERVICE.into(), Duration::from_secs(3));
        nap(Duration::from_millis(500), self.stop)?;
        self.n.output(
            &format!(
                "ip -n {} link set {} down",
                n2.port.peer_ns.name, n2.port.peer_ifname
            ),
            "",
        );
        let offset = w.router.log_len();
        let t0 = Instant::now();
        n2.port.set_peer_down()?;
        let want = hops(&[&w.nodes[0].spec, &w.nodes[2].spec]);
        let c = self.wait_route(w, "failover", t0, Duration::from_secs(15), &want)?;
        nap(Duration::from_millis(1500), self.stop)?;
        let stats = curl.stop();
        self.n.say(&format!(
            "the router's kernel route dropped n2 {} after the port went down ({}; a poll of `ip route` confirmed it at {} ms)",
            fmt_ms(c.elapsed),
            if c.by_monitor { "timed by ip monitor" } else { "timed by polling" },
            c.polled.as_millis()
        ));
        let (cmd, out) = w.route_cmd();
        self.n.output(&cmd, &out);
        let (cmd, out) = w.router.bfd_view();
        self.n.output(&cmd, &out);
        let what = match w.router {
            Router::Frr(_) => format!("-F {}", n2.spec.addr),
            Router::Bird(_) => "-e 'BFD session down' -e 'State changed'".to_string(),
        };
        self.n.output(
            &format!(
                "{}          # the router's log: why n2 left",
                w.router.grep_label(&what)
            ),
            &w.router.down_lines(offset, &n2.spec.addr).join("\n"),
        );
        self.report.failover = Some(c.elapsed);
        let row = Row {
            what: "n2 port down -> next hop removed (BFD)".into(),
            measured: fmt_ms(c.elapsed),
            limit: format!("< {}", fmt_ms(FAILOVER_LIMIT)),
            ok: c.elapsed < FAILOVER_LIMIT,
        };
        self.check(w, row, || {
            format!(
                "failover took {} (limit: BFD detection 3 x 100 ms + 400 ms margin)",
                fmt_ms(c.elapsed)
            )
        })?;
        self.curl_row(w, "failover", &stats)?;
        self.pause()
    }

    fn step_recovery(&mut self, w: &World) -> Result<(), DemoError> {
        let n2 = &w.nodes[1];
        self.n
            .heading("4. n2's port comes back: its BGP session returns, three next hops again");
        let curl = CurlLoop::start(w.router_ns.clone(), SERVICE.into(), Duration::from_secs(3));
        nap(Duration::from_millis(300), self.stop)?;
        self.n.output(
            &format!(
                "ip -n {} link set {} up",
                n2.port.peer_ns.name, n2.port.peer_ifname
            ),
            "",
        );
        let t0 = Instant::now();
        n2.port.set_peer_up()?;
        let all = hops(&w.nodes.iter().map(|x| &x.spec).collect::<Vec<_>>());
        let c = self.wait_route(w, "recovery", t0, CONVERGE_LIMIT, &all)?;
        nap(Duration::from_millis(500), self.stop)?;
        let stats = curl.stop();
        let why = match self.opts.nodes {
            NodeKind::Speakerd => {
                "speakerd reconnects once BFD is Up again, or 5 s after the failure at the latest"
            }
            NodeKind::Bird => "BIRD reconnects after its error wait time",
        };
        self.n.say(&format!(
            "three next hops again {} after the port came back ({why})",
            fmt_s(c.elapsed)
        ));
        let (cmd, out) = w.route_cmd();
        self.n.output(&cmd, &out);
        self.report.recovery = Some(c.elapsed);
        let row = Row {
            what: "n2 port up -> three next hops again".into(),
            measured: fmt_s(c.elapsed),
            limit: format!("< {} s", CONVERGE_LIMIT.as_secs()),
            ok: true,
        };
        self.check(w, row, String::new)?;
        self.curl_row(w, "recovery", &stats)?;
        self.pause()
    }

    fn step_clean_stop(&mut self, w: &World) -> Result<(), DemoError> {
        let n3 = &w.nodes[2];
        let daemon = match self.opts.nodes {
            NodeKind::Speakerd => "speakerd",
            NodeKind::Bird => "BIRD",
        };
        self.n.heading(&format!(
            "5. n3's {daemon} stops cleanly (SIGTERM): Cease / Administrative Shutdown"
        ));
        let pid = n3.pid.or_else(|| {
            let file = n3.bird.as_ref()?.dir.join("bird.pid");
            let t = Instant::now();
            loop {
                let pid = std::fs::read_to_string(&file)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                if pid.is_some() || t.elapsed() > Duration::from_secs(5) {
                    break pid;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let Some(pid) = pid else {
            return Err(self.fail(w, "clean stop", format!("no pid known for n3's {daemon}")));
        };
        let offset = w.router.log_len();
        let curl = CurlLoop::start(w.router_ns.clone(), SERVICE.into(), Duration::from_secs(3));
        nap(Duration::from_millis(300), self.stop)?;
        self.n
            .output(&format!("kill -TERM {pid}          # n3's {daemon}"), "");
        let t0 = Instant::now();
        signal(&[pid], "TERM");
        let want = hops(&[&w.nodes[0].spec, &w.nodes[1].spec]);
        let c = self.wait_route(w, "clean stop", t0, Duration::from_secs(15), &want)?;
        nap(Duration::from_millis(1000), self.stop)?;
        let stats = curl.stop();
        self.n.say(&format!(
            "the router's kernel route dropped n3 {} after SIGTERM",
            fmt_ms(c.elapsed)
        ));
        let (cmd, out) = w.route_cmd();
        self.n.output(&cmd, &out);
        // The daemon exits by itself after sending its NOTIFICATION.
        let exit = {
            let t = Instant::now();
            loop {
                interrupted(self.stop)?;
                let gone = match n3.bird {
                    None => self.lab.exited(pid).map(|s| s.to_string()),
                    Some(_) => {
                        (!Path::new(&format!("/proc/{pid}")).exists()).then(|| "exited".to_string())
                    }
                };
                if let Some(s) = gone {
                    break Some(s);
                }
                if t.elapsed() > Duration::from_secs(5) {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        self.n.say(&format!(
            "n3's {daemon}: {}",
            exit.as_deref().unwrap_or("still running 5 s after SIGTERM")
        ));
        let mut lines = Vec::new();
        let t = Instant::now();
        while lines.is_empty() && t.elapsed() < Duration::from_secs(3) {
            interrupted(self.stop)?;
            lines = w.router.notifications(offset, &n3.spec.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
        let what = match w.router {
            Router::Frr(_) => format!("'NOTIFICATION.*{}'", n3.spec.addr),
            Router::Bird(_) => "Received:".to_string(),
        };
        self.n.output(
            &format!(
                "{}          # the router's log: what n3 sent",
                w.router.grep_label(&what)
            ),
            &lines.join("\n"),
        );
        self.report.clean_stop = Some(c.elapsed);
        let row = Row {
            what: "n3 SIGTERM -> next hop removed".into(),
            measured: fmt_ms(c.elapsed),
            limit: format!("< {}", fmt_ms(FAILOVER_LIMIT)),
            ok: c.elapsed < FAILOVER_LIMIT,
        };
        self.check(w, row, || format!("withdrawal took {}", fmt_ms(c.elapsed)))?;
        let cease = lines
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("administrative shutdown"));
        let row = Row {
            what: "router received Cease/Administrative Shutdown".into(),
            measured: if cease { "yes".into() } else { "no".into() },
            limit: "yes".into(),
            ok: cease,
        };
        self.check(w, row, || {
            format!(
                "no Cease/Administrative Shutdown NOTIFICATION from {} in the router's log; lines: {lines:?}",
                n3.spec.addr
            )
        })?;
        let row = Row {
            what: format!("n3's {daemon} exited after SIGTERM"),
            measured: exit.clone().unwrap_or_else(|| "no".into()),
            limit: "exits (status 0)".into(),
            ok: exit
                .as_deref()
                .is_some_and(|s| s == "exited" || s == "exit status: 0"),
        };
        self.check(w, row, || {
            format!("{daemon} did not exit cleanly: {exit:?}")
        })?;
        self.curl_row(w, "clean stop", &stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print() {
        assert_eq!("frr".parse::<RouterKind>(), Ok(RouterKind::Frr));
        assert_eq!("bird".parse::<RouterKind>(), Ok(RouterKind::Bird));
        assert!("gobgp".parse::<RouterKind>().is_err());
        assert_eq!("speakerd".parse::<NodeKind>(), Ok(NodeKind::Speakerd));
        assert_eq!(NodeKind::Bird.to_string(), "bird");
        assert!("exabgp".parse::<NodeKind>().is_err());
    }

    #[test]
    fn report_table_and_line() {
        let mut r = Report::default();
        r.rows.push(Row {
            what: "n2 port down -> next hop removed (BFD)".into(),
            measured: "312 ms".into(),
            limit: "< 700 ms".into(),
            ok: true,
        });
        r.rows.push(Row {
            what: "curl during failover".into(),
            measured: "40 ok, 2 failed".into(),
            limit: "<= 1 failed".into(),
            ok: false,
        });
        r.failover = Some(Duration::from_millis(312));
        let t = r.table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].ends_with("ok") && lines[2].ends_with("FAILED"),
            "{t}"
        );
        // Columns line up.
        let col = |l: &str| l.find("<").unwrap();
        assert_eq!(col(lines[1]), col(lines[2]), "{t}");
        assert!(!r.ok());
        let opts = Options {
            router: RouterKind::Frr,
            nodes: NodeKind::Bird,
            ci: true,
            speakerd: None,
            pause: Duration::ZERO,
        };
        assert_eq!(
            r.line(&opts),
            "router=frr nodes=bird converge_ms=- failover_ms=312 recovery_ms=- clean_stop_ms=- ok=false"
        );
    }

    #[test]
    fn compare_puts_runs_side_by_side() {
        let a = Report {
            failover: Some(Duration::from_millis(320)),
            recovery: Some(Duration::from_millis(2100)),
            ..Report::default()
        };
        let mut b = Report {
            failover: Some(Duration::from_millis(290)),
            ..Report::default()
        };
        b.rows.push(Row {
            what: "x".into(),
            measured: "y".into(),
            limit: String::new(),
            ok: false,
        });
        let t = compare(&[(NodeKind::Speakerd, a), (NodeKind::Bird, b)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 6, "{t}");
        assert!(lines[0].ends_with("  speakerd        bird"), "{t}");
        assert!(lines[2].ends_with("    320 ms      290 ms"), "{t}");
        assert!(lines[3].ends_with("     2.1 s           -"), "{t}");
        assert!(lines[5].ends_with("        ok      FAILED"), "{t}");
    }

    #[test]
    fn hops_are_sorted_addresses() {
        let n = config::nodes();
        assert_eq!(
            hops(&[&n[2], &n[0]]),
            vec![
                "192.0.2.11".parse::<IpAddr>().unwrap(),
                "192.0.2.13".parse::<IpAddr>().unwrap()
            ]
        );
    }
}
