//! ExaBGP 4 inside a lab namespace.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Family, Lab, Neighbor, Netns, Result, wait_for};

/// Configuration of one ExaBGP instance (exabgp.conf is generated from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExabgpConfig {
    /// Router id.
    pub router_id: String,
    /// Local AS.
    pub local_as: u32,
    /// Neighbours; each needs `local_address` (ExaBGP binds it). BFD is not supported.
    pub neighbors: Vec<Neighbor>,
    /// Prefixes announced to every neighbour of the same family (`next-hop self`).
    pub networks: Vec<String>,
    /// Listen for incoming connections on this address (needed for passive neighbours'
    /// peers to connect; `exabgp.tcp.bind`).
    pub listen: Option<IpAddr>,
}

impl ExabgpConfig {
    /// An instance with no neighbours, not listening.
    pub fn new(local_as: u32, router_id: &str) -> ExabgpConfig {
        ExabgpConfig {
            router_id: router_id.to_string(),
            local_as,
            neighbors: Vec::new(),
            networks: Vec::new(),
            listen: None,
        }
    }

    /// Add a neighbour (set its `local_address`).
    pub fn neighbor(mut self, n: Neighbor) -> ExabgpConfig {
        self.neighbors.push(n);
        self
    }

    /// Originate a prefix.
    pub fn network(mut self, prefix: &str) -> ExabgpConfig {
        self.networks.push(prefix.to_string());
        self
    }

    /// Listen on this address.
    pub fn listen(mut self, addr: &str) -> ExabgpConfig {
        self.listen = Some(
            addr.parse()
                .unwrap_or_else(|e| panic!("listen address {addr:?}: {e}")),
        );
        self
    }

    /// The generated exabgp.conf.
    pub fn render(&self) -> Result<String> {
        let mut c = String::new();
        for n in &self.neighbors {
            let bad = |detail: String| Error::Parse {
                cmd: "exabgp config".into(),
                detail,
            };
            if n.bfd {
                return Err(bad(format!("ExaBGP has no BFD (neighbor {})", n.address)));
            }
            let la = n
                .local_address
                .ok_or_else(|| bad(format!("neighbor {} needs a local address", n.address)))?;
            let _ = writeln!(c, "neighbor {} {{", n.address);
            let _ = writeln!(c, "  router-id {};", self.router_id);
            let _ = writeln!(c, "  local-address {la};");
            let _ = writeln!(
                c,
                "  local-as {};\n  peer-as {};",
                self.local_as, n.remote_as
            );
            let _ = writeln!(c, "  hold-time {};", n.timers.1);
            if n.passive {
                c.push_str("  passive true;\n");
            }
            if let Some(pw) = &n.password {
                let _ = writeln!(c, "  md5-password \"{pw}\";");
            }
            if n.ttl_security {
                c.push_str("  outgoing-ttl 255;\n  incoming-ttl 255;\n");
            }
            c.push_str("  family {");
            if n.has(Family::Ipv4Unicast) {
                c.push_str(" ipv4 unicast;");
            }
            if n.has(Family::Ipv6Unicast) {
                c.push_str(" ipv6 unicast;");
            }
            c.push_str(" }\n");
            let nets: Vec<&String> = self
                .networks
                .iter()
                .filter(|p| {
                    n.has(if p.contains(':') {
                        Family::Ipv6Unicast
                    } else {
                        Family::Ipv4Unicast
                    })
                })
                .collect();
            if !nets.is_empty() {
                c.push_str("  static {\n");
                for p in nets {
                    let _ = writeln!(c, "    route {p} next-hop self;");
                }
                c.push_str("  }\n");
            }
            c.push_str("}\n");
        }
        Ok(c)
    }
}

/// A running ExaBGP.
#[derive(Debug)]
pub struct Exabgp {
    /// Its namespace.
    pub ns: Netns,
    /// Config and log directory.
    pub dir: PathBuf,
    /// Process id of exabgp.
    pub pid: u32,
}

impl Exabgp {
    /// Start ExaBGP in `ns` and wait (15 s) until it has loaded its configuration.
    pub fn start(lab: &mut Lab, ns: &Netns, cfg: &ExabgpConfig) -> Result<Exabgp> {
        let dir = lab.subdir(&format!("exabgp-{}", ns.short))?;
        let conf = dir.join("exabgp.conf");
        crate::write_file(&conf, &cfg.render()?)?;
        let mut cmd = ns.command("exabgp");
        cmd.arg(&conf)
            .env("exabgp.daemon.user", "root")
            .env("exabgp.daemon.drop", "false")
            .env("exabgp.api.cli", "false")
            .env("exabgp.log.destination", "stdout")
            .env("exabgp.log.level", "INFO")
            .env(
                "exabgp.tcp.bind",
                cfg.listen.map(|a| a.to_string()).unwrap_or_default(),
            );
        let log = dir.join("exabgp.log");
        let pid = lab.spawn("exabgp", cmd, &log)?;
        let e = Exabgp {
            ns: ns.clone(),
            dir,
            pid,
        };
        // It listens before it has finished reading a large config: wait for this line.
        wait_for(
            Duration::from_secs(15),
            "ExaBGP configuration loaded",
            || {
                std::fs::read_to_string(&log)
                    .is_ok_and(|s| s.contains("loaded new configuration successfully"))
            },
        )?;
        Ok(e)
    }

    /// The end of ExaBGP's log (its only view: the CLI is off).
    pub fn view(&self) -> String {
        format!(
            "ExaBGP {} (log tail):\n{}",
            self.ns.name,
            crate::tail(&self.dir.join("exabgp.log"), 30)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_needs_a_local_address_and_announces_per_family() {
        let no_local =
            ExabgpConfig::new(64504, "192.0.2.4").neighbor(Neighbor::new("192.0.2.1", 1));
        assert!(no_local.render().is_err());
        let c = ExabgpConfig::new(64504, "192.0.2.4")
            .neighbor(
                Neighbor::new("192.0.2.1", 64500)
                    .local_address("192.0.2.4")
                    .password("x")
                    .passive(),
            )
            .network("203.0.113.0/24")
            .network("2001:db8:400::/48")
            .render()
            .unwrap();
        for want in [
            "neighbor 192.0.2.1 {",
            "local-address 192.0.2.4;",
            "peer-as 64500;",
            "md5-password \"x\";",
            "passive true;",
            "route 203.0.113.0/24 next-hop self;",
        ] {
            assert!(c.contains(want), "missing {want:?} in\n{c}");
        }
        // The IPv6 prefix is not announced on an IPv4-only session.
        assert!(!c.contains("2001:db8:400::/48"));
    }
}
