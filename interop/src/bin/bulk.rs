//! Bulk announcement benchmark in the namespace lab: a sender preloaded with N IPv4 /24s
//! (240.0.0.0/4: nothing installs them in a kernel table) and passive, a receiver (BIRD with
//! no kernel protocol, or FRR bgpd `-Z`) that connects; the time from Established until the
//! receiver holds 99% and all N, polled every ~50 ms, and the sender's peak RSS (VmHWM).
//!
//! ```text
//! cargo build --release -p speakerd --example bulk-sender
//! cargo run --release -p interop --bin bulk -- --sender speakerd --receiver bird --n 1000000 \
//!     --runs 3 --sender-bin target/release/examples/bulk-sender
//! ```
//! Senders: `speakerd` (the library, `announce_all` before the peer connects; with
//! `--stream`, one `announce` call per prefix after Established), `bird` (static protocol),
//! `frr` (bgpd `-Z`, `network` statements), `exabgp` (static routes in its configuration; the
//! harness waits at most 15 s for ExaBGP to load it, which bounds N to about 100k), `gobgp`
//! (an MRT TABLE_DUMP_V2 file through `gobgp mrt inject global`; GoBGP 3.10 loses part of the
//! tail, so the run waits for its count to settle and measures against what it holds). Results go to stdout, one line per run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use interop::bird::{Bird, BirdConfig};
use interop::exabgp::{Exabgp, ExabgpConfig};
use interop::frr::{Frr, FrrConfig};
use interop::gobgp::{Gobgp, GobgpConfig};
use interop::{Lab, Neighbor, Netns, tail};

const TX: &str = "192.0.2.11";
const RX: &str = "192.0.2.1";
const TX_AS: u32 = 64511;
const RX_AS: u32 = 64500;
const POLL: Duration = Duration::from_millis(50);

struct Args {
    sender: String,
    receiver: String,
    n: u32,
    runs: u32,
    stream: bool,
    sender_bin: PathBuf,
    timeout: Duration,
}

fn args() -> Args {
    let mut a = Args {
        sender: "speakerd".into(),
        receiver: "bird".into(),
        n: 100_000,
        runs: 1,
        stream: false,
        sender_bin: PathBuf::from("target/release/examples/bulk-sender"),
        timeout: Duration::from_secs(120),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = || v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--sender" => a.sender = val(),
            "--receiver" => a.receiver = val(),
            "--n" => a.n = val().parse().expect("--n"),
            "--runs" => a.runs = val().parse().expect("--runs"),
            "--sender-bin" => a.sender_bin = val().into(),
            "--timeout" => a.timeout = Duration::from_secs(val().parse().expect("--timeout")),
            "--stream" => {
                a.stream = true;
                i += 1;
                continue;
            }
            o => panic!("unknown argument {o}"),
        }
        i += 2;
    }
    a
}

fn prefix(i: u32) -> String {
    let a = 0xF000_0000u32 + (i << 8);
    format!("{}.{}.{}.0/24", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff)
}

enum Sender {
    Speakerd { pid: u32, log: PathBuf },
    Bird(Bird),
    Frr(Frr),
    Exabgp(Exabgp),
    Gobgp(Gobgp, u64),
}

impl Sender {
    fn pid(&self) -> Option<u32> {
        let read = |p: PathBuf| std::fs::read_to_string(p).ok()?.trim().parse().ok();
        match self {
            Sender::Speakerd { pid, .. } => Some(*pid),
            Sender::Bird(b) => read(b.dir.join("bird.pid")),
            Sender::Frr(f) => read(f.run_dir.join("bgpd.pid")),
            Sender::Exabgp(e) => Some(e.pid),
            Sender::Gobgp(g, _) => Some(g.pid),
        }
    }

    fn log(&self) -> String {
        match self {
            Sender::Speakerd { log, .. } => tail(log, 5),
            _ => String::new(),
        }
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

fn wait(deadline: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_sender(lab: &mut Lab, ns: &Netns, a: &Args) -> Sender {
    let nb = Neighbor::new(RX, RX_AS).passive().timers(30, 90);
    match a.sender.as_str() {
        "speakerd" => {
            let log = lab.dir().join("bulk-sender.log");
            let mut c = ns.command(&a.sender_bin);
            c.args([
                TX,
                &TX_AS.to_string(),
                RX,
                &RX_AS.to_string(),
                &a.n.to_string(),
                if a.stream { "stream" } else { "preload" },
            ]);
            let pid = lab
                .spawn("bulk-sender", c, &log)
                .expect("spawn bulk-sender");
            wait(a.timeout, "speakerd sender loaded", || {
                std::fs::read_to_string(&log).is_ok_and(|t| t.contains("loaded"))
            });
            Sender::Speakerd { pid, log }
        }
        "bird" => {
            let mut cfg = BirdConfig::new(TX_AS, TX).neighbor(nb.local_address(TX));
            cfg.networks = (0..a.n).map(prefix).collect();
            let b = Bird::start(lab, ns, &cfg).expect("start BIRD sender");
            wait(a.timeout, "BIRD sender loaded", || {
                route_count_bird(&b) >= u64::from(a.n)
            });
            Sender::Bird(b)
        }
        "frr" => {
            let mut cfg = FrrConfig::new(TX_AS, TX).neighbor(nb);
            cfg.networks = (0..a.n).map(prefix).collect();
            let f = Frr::start(lab, ns, &cfg).expect("start FRR sender");
            let last = format!("show bgp ipv4 unicast {} json", prefix(a.n - 1));
            wait(a.timeout, "FRR sender loaded", || {
                f.vtysh(&last).is_ok_and(|t| t.contains("\"paths\""))
            });
            Sender::Frr(f)
        }
        "exabgp" => {
            let mut cfg = ExabgpConfig::new(TX_AS, TX)
                .neighbor(nb.local_address(TX))
                .listen(TX);
            cfg.networks = (0..a.n).map(prefix).collect();
            // Returns once ExaBGP logged that its configuration is loaded.
            Sender::Exabgp(Exabgp::start(lab, ns, &cfg).expect("start ExaBGP sender"))
        }
        "gobgp" => {
            let g = Gobgp::start(lab, ns, &GobgpConfig::new(TX_AS, TX).neighbor(nb))
                .expect("start GoBGP sender");
            let mrt = lab.dir().join("bulk.mrt");
            std::fs::write(&mrt, mrt_table(a.n)).expect("write MRT");
            g.gobgp(&["mrt", "inject", "global", &mrt.display().to_string()])
                .expect("gobgp mrt inject");
            // GoBGP 3.10 may lose the tail of an injected stream: wait until its count is
            // stable and measure against what it holds.
            let count = || -> u64 {
                g.gobgp(&["global", "rib", "summary", "-a", "ipv4"])
                    .ok()
                    .and_then(|t| {
                        t.split_whitespace()
                            .filter_map(|w| w.trim_end_matches(',').parse().ok())
                            .next()
                    })
                    .unwrap_or(0)
            };
            let mut last = u64::MAX;
            wait(a.timeout, "GoBGP sender loaded", || {
                let c = count();
                let stable = c == last && c > 0;
                last = c;
                stable
            });
            eprintln!("GoBGP holds {last} of {} injected", a.n);
            Sender::Gobgp(g, last)
        }
        s => panic!("unknown sender {s}"),
    }
}

/// An MRT TABLE_DUMP_V2 file (RFC 6396 §4.3) with the N prefixes from one peer.
fn mrt_table(n: u32) -> Vec<u8> {
    fn rec(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
        out.extend_from_slice(&0u32.to_be_bytes()); // timestamp
        out.extend_from_slice(&13u16.to_be_bytes()); // TABLE_DUMP_V2
        out.extend_from_slice(&subtype.to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    }
    let tx: std::net::Ipv4Addr = TX.parse().expect("TX");
    let mut out = Vec::new();
    // PEER_INDEX_TABLE: collector id, empty view name, one peer (IPv4, AS4).
    let mut b = Vec::new();
    b.extend_from_slice(&tx.octets());
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    b.push(0x02);
    b.extend_from_slice(&tx.octets());
    b.extend_from_slice(&tx.octets());
    b.extend_from_slice(&TX_AS.to_be_bytes());
    rec(&mut out, 1, &b);
    // ORIGIN IGP, empty AS_PATH (GoBGP prepends its AS to the eBGP peer), NEXT_HOP TX.
    let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4];
    attrs.extend_from_slice(&tx.octets());
    for i in 0..n {
        let a = (0xF000_0000u32 + (i << 8)).to_be_bytes();
        let mut b = Vec::new();
        b.extend_from_slice(&i.to_be_bytes());
        b.push(24);
        b.extend_from_slice(&a[..3]);
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes()); // peer index
        b.extend_from_slice(&0u32.to_be_bytes()); // originated
        b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        b.extend_from_slice(&attrs);
        rec(&mut out, 2, &b); // RIB_IPV4_UNICAST
    }
    out
}

fn route_count_bird(b: &Bird) -> u64 {
    // "1000000 of 1000000 routes for 1000000 networks in table master4"
    b.birdc("show route count")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.contains(" routes for "))
                .and_then(|l| l.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

enum Receiver {
    Bird(Bird),
    Frr(Frr),
}

impl Receiver {
    fn established(&self) -> bool {
        match self {
            Receiver::Bird(b) => b.established(TX).unwrap_or(false),
            Receiver::Frr(f) => f.neighbor_state(TX).is_ok_and(|s| s == "Established"),
        }
    }

    fn count(&self) -> u64 {
        match self {
            Receiver::Bird(b) => route_count_bird(b),
            Receiver::Frr(f) => f
                .vtysh("show bgp ipv4 unicast summary json")
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["peers"][TX]["pfxRcd"].as_u64())
                .unwrap_or(0),
        }
    }
}

struct Run {
    to99: Option<Duration>,
    to_all: Option<Duration>,
    hwm_kb: Option<u64>,
    got: u64,
}

fn one_run(a: &Args) -> Run {
    let mut lab = Lab::new().expect("lab");
    let seg = lab
        .segment(&[("snd", &["192.0.2.11/24"]), ("rcv", &["192.0.2.1/24"])])
        .expect("segment");
    let (tx_ns, rx_ns) = (seg.nodes[0].ns.clone(), seg.nodes[1].ns.clone());
    let sender = start_sender(&mut lab, &tx_ns, a);
    let nb = Neighbor::new(TX, TX_AS).timers(30, 90);
    let rx = match a.receiver.as_str() {
        "bird" => Receiver::Bird(
            Bird::start(
                &mut lab,
                &rx_ns,
                &BirdConfig::new(RX_AS, RX).neighbor(nb.local_address(RX)),
            )
            .expect("start BIRD receiver"),
        ),
        "frr" => Receiver::Frr(
            Frr::start(&mut lab, &rx_ns, &FrrConfig::new(RX_AS, RX).neighbor(nb))
                .expect("start FRR receiver"),
        ),
        r => panic!("unknown receiver {r}"),
    };
    let start = Instant::now();
    let n = match &sender {
        Sender::Gobgp(_, held) => *held,
        _ => u64::from(a.n),
    };
    let mut est: Option<Instant> = None;
    let (mut to99, mut to_all) = (None, None);
    let mut got = 0;
    while start.elapsed() < a.timeout {
        let t = Instant::now();
        if est.is_none() && rx.established() {
            est = Some(t);
        }
        if let Some(e) = est {
            got = rx.count();
            if to99.is_none() && got * 100 >= n * 99 {
                to99 = Some(e.elapsed());
            }
            if got >= n {
                to_all = Some(e.elapsed());
                break;
            }
        }
        std::thread::sleep(POLL.saturating_sub(t.elapsed()));
    }
    let hwm_kb = sender.pid().and_then(vm_hwm_kb);
    if to_all.is_none() {
        eprintln!("incomplete: {got}/{n}; sender log: {}", sender.log());
    }
    if a.stream {
        eprintln!("sender: {}", sender.log().trim());
    }
    lab.teardown();
    Run {
        to99,
        to_all,
        hwm_kb,
        got,
    }
}

fn fmt(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2}", d.as_secs_f64()))
        .unwrap_or_else(|| "timeout".into())
}

fn main() {
    let a = args();
    let mut alls = Vec::new();
    for r in 0..a.runs {
        let run = one_run(&a);
        println!(
            "sender={} receiver={} n={} stream={} run={} to99_s={} to_all_s={} got={} sender_hwm_mb={}",
            a.sender,
            a.receiver,
            a.n,
            a.stream,
            r + 1,
            fmt(run.to99),
            fmt(run.to_all),
            run.got,
            run.hwm_kb
                .map(|k| (k / 1024).to_string())
                .unwrap_or("?".into())
        );
        alls.push(run.to_all);
    }
    let mut ok: Vec<Duration> = alls.iter().flatten().copied().collect();
    ok.sort();
    if ok.len() == alls.len() && !ok.is_empty() {
        println!(
            "median to_all_s={:.2} over {} runs",
            ok[ok.len() / 2].as_secs_f64(),
            ok.len()
        );
    }
}
