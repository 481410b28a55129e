//! BIRD 2 inside a lab namespace.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{BfdTimers, Error, Family, Lab, Neighbor, Netns, Result, run, run_stdout, wait_for};

/// Configuration of one BIRD instance (bird.conf is generated from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdConfig {
    /// Router id (an IPv4 address).
    pub router_id: String,
    /// Local AS of every BGP protocol.
    pub local_as: u32,
    /// One `protocol bgp` per neighbour, named by [`BirdConfig::protocol_name`].
    pub neighbors: Vec<Neighbor>,
    /// Prefixes originated (static blackhole routes, exported to every neighbour).
    pub networks: Vec<String>,
    /// BFD timers used when any neighbour has BFD on (`protocol bfd` on every interface).
    pub bfd: BfdTimers,
    /// Extra top-level configuration text appended at the end.
    pub extra: Vec<String>,
}

impl BirdConfig {
    /// An instance with no neighbours.
    pub fn new(local_as: u32, router_id: &str) -> BirdConfig {
        BirdConfig {
            router_id: router_id.to_string(),
            local_as,
            neighbors: Vec::new(),
            networks: Vec::new(),
            bfd: BfdTimers::default(),
            extra: Vec::new(),
        }
    }

    /// Add a neighbour.
    pub fn neighbor(mut self, n: Neighbor) -> BirdConfig {
        self.neighbors.push(n);
        self
    }

    /// Originate a prefix.
    pub fn network(mut self, prefix: &str) -> BirdConfig {
        self.networks.push(prefix.to_string());
        self
    }

    /// BFD timers for neighbours with BFD on.
    pub fn bfd_timers(mut self, t: BfdTimers) -> BirdConfig {
        self.bfd = t;
        self
    }

    /// Append raw top-level configuration.
    pub fn extra(mut self, text: &str) -> BirdConfig {
        self.extra.push(text.to_string());
        self
    }

    /// The name of the `protocol bgp` for a neighbour address (`"192.0.2.1"` →
    /// `"p_192_0_2_1"`).
    pub fn protocol_name(addr: &str) -> String {
        format!("p_{}", addr.replace(['.', ':'], "_"))
    }

    /// The generated bird.conf (`log` is the log file path).
    pub fn render(&self, log: &str) -> String {
        let mut c = String::new();
        let _ = writeln!(c, "log \"{log}\" all;\nrouter id {};", self.router_id);
        c.push_str("protocol device { scan time 10; }\n");
        for (v6, table) in [(false, "ipv4"), (true, "ipv6")] {
            let routes: Vec<&String> = self
                .networks
                .iter()
                .filter(|p| p.contains(':') == v6)
                .collect();
            if routes.is_empty() {
                continue;
            }
            let _ = write!(c, "protocol static static_{table} {{ {table};");
            for r in routes {
                let _ = write!(c, " route {r} blackhole;");
            }
            c.push_str(" }\n");
        }
        if self.neighbors.iter().any(|n| n.bfd) {
            let t = self.bfd;
            let _ = writeln!(
                c,
                "protocol bfd {{ interface \"*\" {{ min rx interval {} ms; min tx interval {} ms; multiplier {}; }}; }}",
                t.rx_ms, t.tx_ms, t.multiplier
            );
        }
        for n in &self.neighbors {
            let name = Self::protocol_name(&n.address.to_string());
            let _ = writeln!(c, "protocol bgp {name} {{");
            match n.local_address {
                Some(la) => {
                    let _ = writeln!(c, "  local {la} as {};", self.local_as);
                }
                None => {
                    let _ = writeln!(c, "  local as {};", self.local_as);
                }
            }
            let _ = writeln!(c, "  neighbor {} as {};", n.address, n.remote_as);
            let (k, h) = n.timers;
            let _ = writeln!(c, "  hold time {h}; keepalive time {k};");
            c.push_str("  connect retry time 1; connect delay time 1; error wait time 1, 5;\n");
            if n.passive {
                c.push_str("  passive on;\n");
            }
            if let Some(pw) = &n.password {
                let _ = writeln!(c, "  password \"{pw}\";");
            }
            if n.ttl_security {
                c.push_str("  ttl security on;\n");
            }
            if n.bfd {
                c.push_str("  bfd on;\n");
            }
            if n.has(Family::Ipv4Unicast) {
                c.push_str("  ipv4 { import all; export all; };\n");
            }
            if n.has(Family::Ipv6Unicast) {
                c.push_str("  ipv6 { import all; export all; };\n");
            }
            c.push_str("}\n");
        }
        for e in &self.extra {
            let _ = writeln!(c, "{e}");
        }
        c
    }
}

/// A running BIRD instance.
#[derive(Debug)]
pub struct Bird {
    /// Its namespace.
    pub ns: Netns,
    /// Config, socket and log directory.
    pub dir: PathBuf,
    /// Control socket.
    pub ctl: PathBuf,
}

impl Bird {
    /// Check the config (`bird -p`), start BIRD in `ns` (it daemonizes) and wait (10 s) for
    /// its control socket.
    pub fn start(lab: &mut Lab, ns: &Netns, cfg: &BirdConfig) -> Result<Bird> {
        let dir = lab.subdir(&format!("bird-{}", ns.short))?;
        let conf = dir.join("bird.conf");
        let log = dir.join("bird.log");
        crate::write_file(&conf, &cfg.render(&log.display().to_string()))?;
        run(Command::new("bird").arg("-p").arg("-c").arg(&conf))?;
        let ctl = dir.join("bird.ctl");
        run(ns
            .command("bird")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&ctl)
            .arg("-P")
            .arg(dir.join("bird.pid")))?;
        wait_for(Duration::from_secs(10), "BIRD control socket", || {
            ctl.exists()
        })?;
        Ok(Bird {
            ns: ns.clone(),
            dir,
            ctl,
        })
    }

    /// Run one birdc command (e.g. `show protocols all`) and return its output.
    pub fn birdc(&self, cmd: &str) -> Result<String> {
        run_stdout(Command::new("birdc").arg("-s").arg(&self.ctl).arg(cmd))
    }

    /// The Info column of `show protocols <name>` (`Established`, `Active`, `Connect`, ...).
    pub fn protocol_info(&self, name: &str) -> Result<String> {
        let cmd = format!("show protocols {name}");
        let out = self.birdc(&cmd)?;
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().skip(5).collect::<Vec<_>>().join(" "))
            .ok_or_else(|| Error::Parse {
                cmd,
                detail: format!("no line for {name} in {out:?}"),
            })
    }

    /// Whether the BGP protocol towards `addr` is Established.
    pub fn established(&self, addr: &str) -> Result<bool> {
        Ok(self
            .protocol_info(&BirdConfig::protocol_name(addr))?
            .starts_with("Established"))
    }

    /// A compact view for failure messages: `show protocols` plus the end of bird.log.
    pub fn view(&self) -> String {
        format!(
            "BIRD {}:\n{}\n--- bird.log (tail) ---\n{}",
            self.ns.name,
            self.birdc("show protocols")
                .unwrap_or_else(|e| format!("(birdc failed: {e})")),
            crate::tail(&self.dir.join("bird.log"), 20)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_has_one_protocol_per_neighbor_with_options() {
        assert_eq!(BirdConfig::protocol_name("192.0.2.1"), "p_192_0_2_1");
        assert_eq!(BirdConfig::protocol_name("2001:db8::1"), "p_2001_db8__1");
        let c = BirdConfig::new(64501, "192.0.2.2")
            .neighbor(
                Neighbor::new("192.0.2.1", 64500)
                    .local_address("192.0.2.2")
                    .password("s3cret")
                    .ttl_security()
                    .bfd(),
            )
            .neighbor(Neighbor::new("2001:db8::1", 64500).passive())
            .network("203.0.113.0/24")
            .render("/x/bird.log");
        for want in [
            "protocol bgp p_192_0_2_1 {",
            "  local 192.0.2.2 as 64501;",
            "  neighbor 192.0.2.1 as 64500;",
            "  password \"s3cret\";",
            "  ttl security on;",
            "  bfd on;",
            "protocol bgp p_2001_db8__1 {",
            "  passive on;",
            "  ipv6 { import all; export all; };",
        ] {
            assert!(c.lines().any(|l| l == want), "missing {want:?} in\n{c}");
        }
        assert!(c.contains("route 203.0.113.0/24 blackhole;"));
        assert!(c.contains("protocol bfd"));
        assert!(!c.contains("static_ipv6"));
    }
}
