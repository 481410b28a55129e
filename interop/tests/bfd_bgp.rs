//! The BFD ↔ BGP coupling end to end, in the topology of interop-lab.md: an FRR router
//! (zebra + bfdd + bgpd, neighbours with `bfd`, 3 × 100 ms) and three speakerd nodes
//! (`bfd = "fast"`, 3 × 100 ms) behind a bridge in its own namespace.
//!
//! All three BGP sessions and BFD sessions come up; n1's bridge port going down takes its BFD
//! session down on both ends, FRR drops the BGP neighbour and speakerd n1 tears its session
//! down for BFD (RFC 5882 §3.2) while n2 and n3 are untouched; the port coming back brings
//! BFD and then BGP back; five times, printing the median time from port down until the
//! router dropped the neighbour. The same scene with BIRD nodes gives the reference figure.
//! Skips without root or FRR unless `SPEAKERD_INTEROP=require`.
//!
//! The router has configured neighbours here. With a listen range (dynamic neighbours, the
//! demo scene) FRR removes n1's neighbour and its BFD session when BGP drops, so BFD cannot
//! come Up before BGP does; speakerd's hold-down is bounded (`BFD_HOLD_DOWN_MAX`) for that
//! case, which the demo scene (`interop/src/bin/demo.rs`) exercises.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use interop::bird::{Bird, BirdConfig};
use interop::frr::{Frr, FrrConfig};
use interop::{BfdTimers, Lab, Neighbor, Netns, Peer, speakerd_binary, tail, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

struct Node {
    name: String,
    log: PathBuf,
}

impl Node {
    fn start(lab: &mut Lab, ns: &Netns, i: u32, addr: &str) -> Node {
        let bin = speakerd_binary().expect("build speakerd");
        let dir = lab.subdir(&format!("speakerd-{}", ns.short)).unwrap();
        let conf = dir.join("speakerd.toml");
        std::fs::write(
            &conf,
            format!(
                "[speaker]\nasn = {}\nrouter_id = \"{addr}\"\n\n\
                 [bfd.profile.fast]\nreceive_interval = 100\ntransmit_interval = 100\ndetect_multiplier = 3\n\n\
                 [[peer]]\nname = \"router\"\naddress = \"192.0.2.1\"\nasn = 64500\nhold_time = 9\nbfd = \"fast\"\n",
                64511 + i
            ),
        )
        .unwrap();
        let log = dir.join("speakerd.log");
        let mut cmd = ns.command(&bin);
        cmd.arg("--config")
            .arg(&conf)
            .env("RUST_LOG", "info,speakerd=debug");
        lab.spawn(&format!("speakerd {}", ns.short), cmd, &log)
            .unwrap();
        Node {
            name: ns.short.clone(),
            log,
        }
    }

    /// Log lines of the peer "router" containing `what`.
    fn count(&self, what: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("peer=router") && l.contains(what))
            .count()
    }
}

fn bfd_status(router: &Frr, addr: &str) -> interop::Result<Option<String>> {
    let peers = router.bfd_peers_json()?;
    Ok(peers.as_array().and_then(|a| {
        a.iter()
            .find(|p| p["peer"] == addr)
            .and_then(|p| p["status"].as_str())
            .map(str::to_string)
    }))
}

fn established(router: &Frr, addr: &str) -> bool {
    router
        .neighbor_state(addr)
        .is_ok_and(|s| s == "Established")
}

/// The node daemons of a scene.
enum Nodes {
    Speakerd(Vec<Node>),
    Bird(Vec<Bird>),
}

impl Nodes {
    fn view(&self) -> String {
        let mut s = String::new();
        match self {
            Nodes::Speakerd(v) => {
                for n in v {
                    s.push_str(&format!(
                        "\n--- speakerd {} log (tail) ---\n{}",
                        n.name,
                        tail(&n.log, 15)
                    ));
                }
            }
            Nodes::Bird(v) => {
                for b in v {
                    s.push_str(&format!("\n{}", b.view()));
                }
            }
        }
        s
    }

    /// speakerd nodes: how many times each logged a BFD failure of its session.
    fn bfd_downs(&self) -> Option<Vec<usize>> {
        match self {
            Nodes::Speakerd(v) => Some(v.iter().map(|n| n.count("held until BFD is up")).collect()),
            Nodes::Bird(_) => None,
        }
    }
}

const ADDRS: [&str; 3] = ["192.0.2.11", "192.0.2.12", "192.0.2.13"];
const CYCLES: usize = 5;

/// Builds the scene, runs `CYCLES` failures of n1, returns the times from port down until
/// the router dropped n1's BGP neighbour.
fn scene(speakerd: bool) -> Option<Vec<Duration>> {
    let mut lab = Lab::skip_unless_ready_for(if speakerd {
        &[Peer::Frr]
    } else {
        &[Peer::Frr, Peer::Bird]
    })?;
    let seg = lab
        .segment(&[
            ("router", &["192.0.2.1/24"]),
            ("n1", &["192.0.2.11/24"]),
            ("n2", &["192.0.2.12/24"]),
            ("n3", &["192.0.2.13/24"]),
        ])
        .unwrap();
    // Configured neighbours: FRR keeps their BFD sessions while BGP is down (see the module
    // docs for dynamic neighbours).
    let mut router_cfg = FrrConfig::new(64500, "192.0.2.1")
        .with_bfd(BfdTimers::default())
        .maximum_paths(8);
    for (i, a) in ADDRS.iter().enumerate() {
        router_cfg = router_cfg.neighbor(Neighbor::new(a, 64511 + i as u32).bfd().timers(3, 9));
    }
    let router = Frr::start(&mut lab, &seg.nodes[0].ns, &router_cfg).unwrap();
    let nodes = if speakerd {
        Nodes::Speakerd(
            seg.nodes[1..]
                .iter()
                .enumerate()
                .map(|(i, n)| Node::start(&mut lab, &n.ns, i as u32, &n.addrs[0].to_string()))
                .collect(),
        )
    } else {
        Nodes::Bird(
            seg.nodes[1..]
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let addr = n.addrs[0].to_string();
                    let cfg = BirdConfig::new(64511 + i as u32, &addr).neighbor(
                        Neighbor::new("192.0.2.1", 64500)
                            .local_address(&addr)
                            .bfd()
                            .timers(3, 9),
                    );
                    Bird::start(&mut lab, &n.ns, &cfg).unwrap()
                })
                .collect(),
        )
    };
    let view = || {
        format!(
            "{}\n--- router bfd ---\n{}{}",
            router.view(),
            router.vtysh("show bfd peers brief").unwrap_or_default(),
            nodes.view()
        )
    };
    let all_up = |what: &str| {
        for a in ADDRS {
            wait_until(
                DEADLINE,
                &format!("{what}: router's BGP with {a} Established"),
                || Ok(established(&router, a)),
                view,
            );
            wait_until(
                DEADLINE,
                &format!("{what}: router's BFD with {a} up"),
                || Ok(bfd_status(&router, a)?.as_deref() == Some("up")),
                view,
            );
        }
    };
    all_up("start");
    // Let the sessions settle at the fast rate, then check nothing flapped.
    std::thread::sleep(Duration::from_secs(2));
    if let Some(d) = nodes.bfd_downs() {
        assert_eq!(d, [0, 0, 0], "{}", view());
    }
    let port = &seg.node("n1").unwrap().port;
    let mut times = Vec::new();
    for cycle in 1..=CYCLES {
        let t0 = Instant::now();
        port.set_peer_down().unwrap();
        // Poll as fast as vtysh answers (a few ms to 20 ms per call).
        while established(&router, "192.0.2.11") {
            assert!(t0.elapsed() < DEADLINE, "n1 not dropped: {}", view());
            std::thread::sleep(Duration::from_millis(2));
        }
        times.push(t0.elapsed());
        if nodes.bfd_downs().is_some() {
            // speakerd n1 saw the BFD failure and tore its BGP session down for it; n2 and n3
            // saw nothing.
            wait_until(
                DEADLINE,
                "speakerd n1 logs the BFD failure of its session to the router",
                || Ok(nodes.bfd_downs().is_some_and(|d| d[0] == cycle)),
                view,
            );
            assert_eq!(nodes.bfd_downs().unwrap()[1..], [0, 0], "{}", view());
        }
        for a in &ADDRS[1..] {
            assert!(established(&router, a), "{}", view());
        }
        // Repair: BFD up again, then BGP (speakerd holds its session down until BFD is Up).
        port.set_peer_up().unwrap();
        all_up(&format!("after repair {cycle}"));
        std::thread::sleep(Duration::from_secs(1));
    }
    Some(times)
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
    eprintln!(
        "{what}: port down -> router dropped n1's BGP neighbour (BFD 3 x 100 ms), {} runs: median {} ms, all {:?} ms",
        ms.len(),
        ms[ms.len() / 2],
        ms
    );
}

#[test]
fn bfd_failure_takes_the_bgp_session_down_on_both_ends_and_back_up() {
    if let Some(times) = scene(true) {
        report("speakerd nodes", times);
    }
}

#[test]
fn same_scene_with_bird_nodes_for_reference() {
    if let Some(times) = scene(false) {
        report("BIRD nodes", times);
    }
}
