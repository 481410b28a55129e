//! What the demo writes and installs: speakerd's node configuration, the BIRD router
//! configuration, the Debian packages it needs.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::BfdTimers;
use crate::bird::BirdConfig;
use crate::frr::FrrConfig;

use super::{NodeKind, RouterKind};

/// The service address every node announces and serves.
pub const SERVICE: &str = "203.0.113.100";
/// The announced prefix.
pub const SERVICE_PREFIX: &str = "203.0.113.100/32";
/// The router's address on the segment.
pub const ROUTER_ADDR: &str = "192.0.2.1";
/// The router's AS.
pub const ROUTER_AS: u32 = 64500;
/// The range the router accepts dynamic neighbours from.
pub const NODE_RANGE: &str = "192.0.2.0/24";
/// BFD timers of both ends: 3 × 100 ms.
pub const BFD: BfdTimers = BfdTimers {
    tx_ms: 100,
    rx_ms: 100,
    multiplier: 3,
};
/// BGP keepalive and hold time of the sessions (seconds).
pub const BGP_TIMERS: (u16, u16) = (3, 9);

/// One node of the scene.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Short name (`n1`...), also the namespace's short name and the web server's answer.
    pub name: String,
    /// Its address on the segment.
    pub addr: String,
    /// Its AS.
    pub asn: u32,
}

/// The three nodes: n1..n3 at 192.0.2.11-13, AS 64511-64513.
pub fn nodes() -> Vec<NodeSpec> {
    (1..=3)
        .map(|i| NodeSpec {
            name: format!("n{i}"),
            addr: format!("192.0.2.{}", 10 + i),
            asn: 64510 + i,
        })
        .collect()
}

/// The speakerd configuration of one node: one peer (the router) with BFD profile `fast`
/// (3 × 100 ms) and the service prefix announced.
pub fn speakerd_config(node: &NodeSpec) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "[speaker]\nasn = {}\nrouter_id = \"{}\"\n",
        node.asn, node.addr
    );
    let _ = writeln!(
        c,
        "[bfd.profile.fast]\nreceive_interval = {}\ntransmit_interval = {}\ndetect_multiplier = {}\n",
        BFD.rx_ms, BFD.tx_ms, BFD.multiplier
    );
    let _ = writeln!(
        c,
        "[[peer]]\nname = \"router\"\naddress = \"{ROUTER_ADDR}\"\nasn = {ROUTER_AS}\nhold_time = {}\nbfd = \"fast\"\n",
        BGP_TIMERS.1
    );
    let _ = writeln!(c, "[[announce]]\nprefix = \"{SERVICE_PREFIX}\"");
    c
}

/// The FRR router: zebra + bfdd + bgpd, AS 64500, dynamic neighbours from 192.0.2.0/24 in
/// peer group NODES with BFD (3 × 100 ms), `maximum-paths 8`, `multipath-relax`.
pub fn frr_router() -> FrrConfig {
    let (k, h) = BGP_TIMERS;
    FrrConfig::new(ROUTER_AS, ROUTER_ADDR)
        .with_bfd(BFD)
        .maximum_paths(8)
        .listen_range(
            NODE_RANGE,
            None,
            crate::Neighbor::template().bfd().timers(k, h),
        )
        .extra("bgp log-neighbor-changes")
}

/// The BIRD 2 router: a `protocol kernel` exporting BGP routes with `merge paths on`
/// (one ECMP route), `protocol bfd` (3 × 100 ms), and one `protocol bgp` accepting dynamic
/// neighbours (`neighbor range 192.0.2.0/24 external`) with `bfd on`.
pub fn bird_router() -> BirdConfig {
    let (k, h) = BGP_TIMERS;
    let t = BFD;
    let text = format!(
        "protocol kernel kernel4 {{\n  ipv4 {{ import none; export where source = RTS_BGP; }};\n  merge paths on;\n}}\n\
         protocol bfd {{\n  interface \"*\" {{ min rx interval {} ms; min tx interval {} ms; multiplier {}; }};\n}}\n\
         protocol bgp nodes {{\n  local {ROUTER_ADDR} as {ROUTER_AS};\n  neighbor range {NODE_RANGE} external;\n  dynamic name \"node\";\n  hold time {h}; keepalive time {k};\n  error wait time 1, 5;\n  bfd on;\n  debug {{ states, events }};\n  ipv4 {{ import all; export none; }};\n}}",
        t.rx_ms, t.tx_ms, t.multiplier
    );
    BirdConfig::new(ROUTER_AS, ROUTER_ADDR).extra(&text)
}

/// A BIRD node standing in for speakerd: the same session (BFD, timers) and announcement.
pub fn bird_node(node: &NodeSpec) -> BirdConfig {
    let (k, h) = BGP_TIMERS;
    BirdConfig::new(node.asn, &node.addr)
        .bfd_timers(BFD)
        .neighbor(
            crate::Neighbor::new(ROUTER_ADDR, ROUTER_AS)
                .local_address(&node.addr)
                .timers(k, h)
                .bfd(),
        )
        .network(SERVICE_PREFIX)
}

/// A Debian package the demo needs, and the file that shows it is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    /// The Debian package name.
    pub name: &'static str,
    /// A binary it provides (absolute path, or a name looked up in `PATH`).
    pub binary: &'static str,
}

/// The packages a run with this router and these nodes needs.
pub fn packages(router: RouterKind, nodes: &[NodeKind]) -> Vec<Package> {
    let mut v = vec![
        Package {
            name: "iproute2",
            binary: "ip",
        },
        Package {
            name: "curl",
            binary: "curl",
        },
        Package {
            name: "python3",
            binary: "python3",
        },
    ];
    let frr = Package {
        name: "frr",
        binary: crate::frr::BGPD,
    };
    let bird = Package {
        name: "bird2",
        binary: "bird",
    };
    v.push(match router {
        RouterKind::Frr => frr,
        RouterKind::Bird => bird,
    });
    if nodes.contains(&NodeKind::Bird) && !v.contains(&bird) {
        v.push(bird);
    }
    v
}

/// The packages among `pkgs` whose binary is not found.
pub fn missing(pkgs: &[Package]) -> Vec<Package> {
    pkgs.iter()
        .copied()
        .filter(|p| crate::find_binary(p.binary).is_none())
        .collect()
}

/// Where the speakerd binary is looked for when not given: beside the running executable
/// (`make demo` builds both into `target/release/`), then `target/release/speakerd` and
/// `target/debug/speakerd` under the current directory.
pub fn default_speakerd() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("speakerd")));
    beside
        .into_iter()
        .chain(["target/release/speakerd", "target/debug/speakerd"].map(PathBuf::from))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakerd_config_has_the_issue_keys() {
        let n = &nodes()[1];
        assert_eq!(
            (n.name.as_str(), n.addr.as_str(), n.asn),
            ("n2", "192.0.2.12", 64512)
        );
        let c = speakerd_config(n);
        for line in [
            "[speaker]",
            "asn = 64512",
            "router_id = \"192.0.2.12\"",
            "[bfd.profile.fast]",
            "receive_interval = 100",
            "transmit_interval = 100",
            "detect_multiplier = 3",
            "[[peer]]",
            "name = \"router\"",
            "address = \"192.0.2.1\"",
            "asn = 64500",
            "hold_time = 9",
            "bfd = \"fast\"",
            "[[announce]]",
            "prefix = \"203.0.113.100/32\"",
        ] {
            assert!(c.lines().any(|l| l == line), "missing {line:?} in\n{c}");
        }
    }

    #[test]
    fn routers_have_ecmp_bfd_and_dynamic_neighbours() {
        let frr = frr_router().render_bgpd("router", "/x/bgpd.log");
        for line in [
            " bgp listen range 192.0.2.0/24 peer-group NODES",
            " neighbor NODES bfd",
            " neighbor NODES timers 3 9",
            " bgp bestpath as-path multipath-relax",
            "  maximum-paths 8",
            " bgp log-neighbor-changes",
        ] {
            assert!(frr.lines().any(|l| l == line), "missing {line:?} in\n{frr}");
        }
        let bfdd = frr_router().render_bfdd("/x/bfdd.log").unwrap();
        assert!(bfdd.contains("receive-interval 100") && bfdd.contains("detect-multiplier 3"));
        let bird = bird_router().render("/x/bird.log");
        for want in [
            "  merge paths on;",
            "  neighbor range 192.0.2.0/24 external;",
            "  bfd on;",
            "  error wait time 1, 5;",
            "  hold time 9; keepalive time 3;",
        ] {
            assert!(
                bird.lines().any(|l| l == want),
                "missing {want:?} in\n{bird}"
            );
        }
        assert!(bird.contains("min rx interval 100 ms; min tx interval 100 ms; multiplier 3;"));
        let node = bird_node(&nodes()[0]).render("/x/bird.log");
        assert!(node.contains("route 203.0.113.100/32 blackhole;") && node.contains("bfd on;"));
        assert!(node.contains("local 192.0.2.11 as 64511;"));
    }

    #[test]
    fn packages_follow_the_router_and_nodes() {
        let names = |r, n: &[NodeKind]| -> Vec<&str> {
            packages(r, n).iter().map(|p| p.name).collect::<Vec<_>>()
        };
        assert_eq!(
            names(RouterKind::Frr, &[NodeKind::Speakerd]),
            ["iproute2", "curl", "python3", "frr"]
        );
        assert_eq!(
            names(RouterKind::Frr, &[NodeKind::Speakerd, NodeKind::Bird]),
            ["iproute2", "curl", "python3", "frr", "bird2"]
        );
        assert_eq!(
            names(RouterKind::Bird, &[NodeKind::Bird]),
            ["iproute2", "curl", "python3", "bird2"]
        );
        let fake = Package {
            name: "no-such-package",
            binary: "/nonexistent/no-such-binary",
        };
        assert_eq!(missing(&[fake]), vec![fake]);
    }
}
