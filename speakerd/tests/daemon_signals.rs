//! The `speakerd` binary's signals: SIGHUP reloads the file by difference (a valid change is
//! applied, an invalid file is refused and the daemon keeps running), SIGUSR2 stops for a
//! graceful restart (exit 75, a marker next to the state file) and the next run consumes the
//! marker and sets the Restart State bit, SIGTERM exits 0. The log is read line by line from
//! the daemon's stderr (event-driven, with a deadline; nothing is timed).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_speakerd");
const DEADLINE: Duration = Duration::from_secs(30);

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn speakerd");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads log lines until one contains `what`; returns it.
    fn until(&mut self, what: &str) -> String {
        loop {
            match self.lines.recv_timeout(DEADLINE) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(what) {
                        return l;
                    }
                }
                Err(e) => panic!(
                    "no log line with {what:?} ({e}); log:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for the exit (the log pipe closes first) and returns the exit code.
    fn exit_code(mut self) -> Option<i32> {
        while self.lines.recv_timeout(DEADLINE).is_ok() {}
        self.child.wait().unwrap().code()
    }
}

fn config(state: &Path, extra_peer: bool, tail: &str) -> String {
    let mut t = format!(
        "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\nlisten = [\"127.0.0.1:0\"]\ngraceful_restart = true\n[state]\npath = \"{}\"\n[[peer]]\nname = \"p1\"\naddress = \"192.0.2.1\"\nasn = 64500\npassive = true\n",
        state.display()
    );
    if extra_peer {
        t += "[[peer]]\nname = \"p2\"\naddress = \"192.0.2.2\"\nasn = 64502\npassive = true\n";
    }
    t + tail
}

#[test]
fn sighup_reloads_and_refuses_an_invalid_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("speakerd.toml");
    let state = dir.path().join("state.json");
    std::fs::write(&conf, config(&state, false, "")).unwrap();
    let mut d = Daemon::start(&conf);
    d.until("speakerd started");

    std::fs::write(&conf, config(&state, true, "")).unwrap();
    d.signal("HUP");
    let l = d.until("SIGHUP: configuration reloaded");
    assert!(l.contains("added: p2") && l.contains("unchanged: 1"), "{l}");

    std::fs::write(&conf, config(&state, true, "hold_time = 1\n")).unwrap();
    d.signal("HUP");
    d.until("new configuration refused");
    d.until("hold_time 1: must be 0 or 3..=65535");
    // Still running: a valid file again is applied (nothing changed but the error is gone).
    std::fs::write(&conf, config(&state, true, "")).unwrap();
    d.signal("HUP");
    let l = d.until("SIGHUP: configuration reloaded");
    assert!(l.contains("unchanged: 2"), "{l}");

    d.signal("TERM");
    assert_eq!(d.exit_code(), Some(0));
}

#[test]
fn sigusr2_stops_for_a_graceful_restart_and_the_next_run_is_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("speakerd.toml");
    let state = dir.path().join("state.json");
    let marker = dir.path().join("state.json.restarting");
    std::fs::write(&conf, config(&state, false, "")).unwrap();

    let mut d = Daemon::start(&conf);
    d.until("speakerd started");
    assert!(!d.seen.iter().any(|l| l.contains("Restart State bit set")));
    d.signal("USR2");
    d.until("stopped for a graceful restart");
    assert_eq!(d.exit_code(), Some(75));
    assert!(marker.exists(), "no restart marker");

    let mut d = Daemon::start(&conf);
    d.until("Restart State bit set");
    d.until("speakerd started");
    assert!(!marker.exists(), "the marker is consumed");
    d.signal("TERM");
    assert_eq!(d.exit_code(), Some(0));
}
