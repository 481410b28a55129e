//! GoBGP 3 inside a lab namespace.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Family, Lab, Neighbor, Netns, Result, run_stdout, wait_for};

/// Configuration of one gobgpd (gobgpd.toml is generated from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GobgpConfig {
    /// Local AS.
    pub asn: u32,
    /// Router id.
    pub router_id: String,
    /// Neighbours (BFD is not supported by GoBGP: an error at start).
    pub neighbors: Vec<Neighbor>,
    /// Prefixes originated after start (`gobgp global rib add`).
    pub networks: Vec<String>,
}

impl GobgpConfig {
    /// An instance with no neighbours.
    pub fn new(asn: u32, router_id: &str) -> GobgpConfig {
        GobgpConfig {
            asn,
            router_id: router_id.to_string(),
            neighbors: Vec::new(),
            networks: Vec::new(),
        }
    }

    /// Add a neighbour.
    pub fn neighbor(mut self, n: Neighbor) -> GobgpConfig {
        self.neighbors.push(n);
        self
    }

    /// Originate a prefix.
    pub fn network(mut self, prefix: &str) -> GobgpConfig {
        self.networks.push(prefix.to_string());
        self
    }

    /// The generated gobgpd.toml.
    pub fn render(&self) -> Result<String> {
        let mut c = String::new();
        let _ = writeln!(
            c,
            "[global.config]\n  as = {}\n  router-id = \"{}\"",
            self.asn, self.router_id
        );
        for n in &self.neighbors {
            if n.bfd {
                return Err(Error::Parse {
                    cmd: "gobgp config".into(),
                    detail: format!("GoBGP has no BFD (neighbor {})", n.address),
                });
            }
            let _ = writeln!(
                c,
                "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}",
                n.address, n.remote_as
            );
            if let Some(pw) = &n.password {
                let _ = writeln!(c, "    auth-password = \"{pw}\"");
            }
            c.push_str("  [neighbors.transport.config]\n");
            if n.passive {
                c.push_str("    passive-mode = true\n");
            }
            if let Some(la) = n.local_address {
                let _ = writeln!(c, "    local-address = \"{la}\"");
            }
            let (k, h) = n.timers;
            let _ = writeln!(
                c,
                "  [neighbors.timers.config]\n    connect-retry = 1\n    hold-time = {h}\n    keepalive-interval = {k}"
            );
            if n.ttl_security {
                c.push_str(
                    "  [neighbors.ttl-security.config]\n    enabled = true\n    ttl-min = 255\n",
                );
            }
            for (fam, name) in [
                (Family::Ipv4Unicast, "ipv4-unicast"),
                (Family::Ipv6Unicast, "ipv6-unicast"),
            ] {
                if n.has(fam) {
                    let _ = writeln!(
                        c,
                        "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{name}\""
                    );
                }
            }
        }
        Ok(c)
    }
}

/// A running gobgpd.
#[derive(Debug)]
pub struct Gobgp {
    /// Its namespace.
    pub ns: Netns,
    /// Config and log directory.
    pub dir: PathBuf,
    /// Process id of gobgpd.
    pub pid: u32,
}

impl Gobgp {
    /// Start gobgpd in `ns` (API on 127.0.0.1:50051 of that namespace), wait (10 s) for its
    /// API and add the configured networks.
    pub fn start(lab: &mut Lab, ns: &Netns, cfg: &GobgpConfig) -> Result<Gobgp> {
        let dir = lab.subdir(&format!("gobgp-{}", ns.short))?;
        let conf = dir.join("gobgpd.toml");
        crate::write_file(&conf, &cfg.render()?)?;
        let mut cmd = ns.command("gobgpd");
        cmd.arg("-f")
            .arg(&conf)
            .args(["--api-hosts", "127.0.0.1:50051", "--pprof-disable", "-p"]);
        let pid = lab.spawn("gobgpd", cmd, &dir.join("gobgpd.log"))?;
        let g = Gobgp {
            ns: ns.clone(),
            dir,
            pid,
        };
        wait_for(Duration::from_secs(10), "GoBGP API", || {
            g.gobgp(&["global"]).is_ok()
        })?;
        for p in &cfg.networks {
            let fam = if p.contains(':') { "ipv6" } else { "ipv4" };
            g.gobgp(&["global", "rib", "add", "-a", fam, p])?;
        }
        Ok(g)
    }

    /// Run the `gobgp` CLI in the namespace with these arguments.
    pub fn gobgp(&self, args: &[&str]) -> Result<String> {
        run_stdout(self.ns.command("gobgp").args(args))
    }

    /// `gobgp neighbor` (the summary table).
    pub fn neighbor(&self) -> Result<String> {
        self.gobgp(&["neighbor"])
    }

    /// The session state GoBGP reports for a neighbour, lower case (`established`,
    /// `active`, ...), from `gobgp neighbor <addr>`.
    pub fn neighbor_state(&self, addr: &str) -> Result<String> {
        let out = self.gobgp(&["neighbor", addr])?;
        out.lines()
            .find_map(|l| l.trim().strip_prefix("BGP state ="))
            .map(|s| {
                s.split(',')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .ok_or_else(|| Error::Parse {
                cmd: format!("gobgp neighbor {addr}"),
                detail: out.clone(),
            })
    }

    /// A compact view for failure messages.
    pub fn view(&self) -> String {
        format!(
            "GoBGP {}:\n{}\n--- gobgpd.log (tail) ---\n{}",
            self.ns.name,
            self.neighbor()
                .unwrap_or_else(|e| format!("(gobgp failed: {e})")),
            crate::tail(&self.dir.join("gobgpd.log"), 20)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_has_security_and_transport_options_and_rejects_bfd() {
        let c = GobgpConfig::new(4_200_000_003, "192.0.2.3")
            .neighbor(
                Neighbor::new("192.0.2.1", 64500)
                    .password("s3cret")
                    .ttl_security()
                    .passive()
                    .local_address("192.0.2.3"),
            )
            .render()
            .unwrap();
        for want in [
            "as = 4200000003",
            "neighbor-address = \"192.0.2.1\"",
            "auth-password = \"s3cret\"",
            "passive-mode = true",
            "local-address = \"192.0.2.3\"",
            "ttl-min = 255",
            "afi-safi-name = \"ipv4-unicast\"",
            "hold-time = 3",
        ] {
            assert!(c.contains(want), "missing {want:?} in\n{c}");
        }
        let bfd = GobgpConfig::new(1, "192.0.2.3").neighbor(Neighbor::new("192.0.2.1", 2).bfd());
        assert!(bfd.render().is_err());
    }
}
