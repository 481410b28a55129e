//! `examples/speakerd.toml` (the annotated example of docs/CONFIG.md) is a valid
//! configuration with the values it says; `[log]` rejects unknown formats.

use std::path::Path;

use speakerd::Config;
use speakerd::config::LogFormat;

#[test]
fn the_example_configuration_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/speakerd.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.speaker.asn, 64511);
    assert!(c.speaker.graceful_restart);
    assert_eq!(c.speaker.restart_time, 120);
    assert_eq!(c.speaker.listen.len(), 2);
    assert_eq!(c.peers.len(), 3);
    assert_eq!(c.peers[0].bfd.as_deref(), Some("fast"));
    assert_eq!(c.peers[1].min_ttl(), Some(254));
    assert!(c.peers[2].passive && c.peers[2].keep_received);
    assert_eq!(c.announce.len(), 2);
    assert_eq!(
        c.state.path.as_deref(),
        Some(Path::new("/var/lib/speakerd/state.json"))
    );
    assert_eq!(c.metrics.listen, Some("127.0.0.1:9179".parse().unwrap()));
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn log_and_state_errors_have_positions() {
    let head = "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n";
    let e = Config::parse(&format!("{head}[log]\nformat = \"xml\"\n"), "t.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.toml:5:10: unknown log format \"xml\""),
        "{e}"
    );
    let e = Config::parse(&format!("{head}[state]\npath = \"state.json\"\n"), "t.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.toml:5:8: state path \"state.json\" must be an absolute file path"),
        "{e}"
    );
    let c = Config::parse(head, "t.toml").unwrap();
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.state.path, None);
}
