//! The `speakerd` daemon: `speakerd --config FILE` runs the speaker;
//! `speakerd check --config FILE` validates the configuration and exits 0 (valid) or 1.
//!
//! Logs go to stderr as text (or JSON lines with `[log] format = "json"`), filtered by `RUST_LOG` (default `info`). On SIGTERM or SIGINT
//! every session is closed with NOTIFICATION Cease / Administrative Shutdown carrying the
//! RFC 9003 message "speakerd shutting down", and the process exits 0 once they are sent.
//!
//! On SIGUSR2 (a planned restart, with `[speaker] graceful_restart = true`) the connections
//! are closed without a NOTIFICATION so peers keep our routes for the restart time
//! (RFC 4724), a marker next to the `[state]` file tells the next run to set the Restart
//! State bit, and the process exits 75 (systemd restarts it). See docs/OPERATIONS.md.
//!
//! On SIGHUP the configuration file is read again and applied by difference
//! ([`Speaker::reload`](speakerd::Speaker::reload)): unchanged peers keep their sessions; an
//! invalid file is refused (its errors logged) and the running configuration stays.
//!
//! With `[api] socket = "/run/speakerd/speakerd.sock"` the local API (newline-delimited
//! JSON, `docs/API.md`; `speakerctl` is its client) listens there, mode 0660. With
//! `[metrics] listen = "127.0.0.1:9179"`, Prometheus metrics are served at `/metrics`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use speakerd::{Config, Speaker};
use tracing::{error, info};

/// The exit status after a graceful restart stop (SIGUSR2): EX_TEMPFAIL, which the systemd
/// unit's `RestartForceExitStatus=` turns into a restart.
const EXIT_RESTART: u8 = 75;

/// The shutdown communication sent to every peer on SIGTERM/SIGINT (RFC 9003).
const SHUTDOWN_MESSAGE: &str = "speakerd shutting down";

#[derive(Parser, Debug)]
#[command(name = "speakerd", version, about = "A BGP and BFD speaker")]
struct Cli {
    /// The TOML configuration file.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Validate the configuration and exit: 0 when valid, 1 otherwise.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(path) = cli.config else {
        eprintln!("speakerd: --config FILE is required");
        return ExitCode::from(2);
    };
    let mut config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if matches!(cli.command, Some(Cmd::Check)) {
        println!(
            "{}: ok ({} peer{})",
            path.display(),
            config.peers.len(),
            if config.peers.len() == 1 { "" } else { "s" }
        );
        return ExitCode::SUCCESS;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        // `[log] format = "json"`: one JSON object a line.
        speakerd::config::LogFormat::Json => fmt.json().init(),
        _ => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // A planned graceful restart (SIGUSR2) left a marker next to the state file: this run
    // is the restart (RFC 4724 Restart State bit).
    let marker = config
        .state
        .path
        .as_deref()
        .map(speakerd::state::restart_marker);
    if let Some(m) = &marker
        && std::fs::remove_file(m).is_ok()
    {
        config.speaker.restarting = true;
        info!("graceful restart: this run is the restart (Restart State bit set)");
    }
    rt.block_on(run(config, path, marker))
}

async fn run(config: Config, path: PathBuf, marker: Option<PathBuf>) -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};
    // All handlers before anything starts: SIGHUP (`systemctl reload`: load the file again
    // and apply the difference) and SIGUSR2 (planned graceful restart, RFC 4724, see
    // docs/OPERATIONS.md) would otherwise keep their default action (terminate).
    let (mut term, mut int, mut hup, mut usr2) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined2()),
    ) {
        (Ok(t), Ok(i), Ok(h), Ok(u)) => (t, i, h, u),
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
            error!("cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let mut opts = speakerd::SpeakerOptions::default();
    if config.peers.iter().any(|p| p.keep_received) {
        // The API's received-routes table reads every UPDATE event: room for a full table
        // arriving at once, so it does not lag behind the channel.
        opts.events = Some(tokio::sync::broadcast::channel(1 << 16).0);
    }
    let speaker = match Speaker::start_with(config, opts).await {
        Ok(s) => s,
        Err(e) => {
            error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    info!(peers = speaker.handles().len(), "speakerd started");
    speaker.set_config_path(&path);
    let speaker = std::sync::Arc::new(speaker);
    let api = match speaker.config().api.socket.clone() {
        Some(path) => match speakerd::api::ApiServer::start(&path, speaker.clone()) {
            Ok(a) => Some(a),
            Err(e) => {
                error!("cannot start the API: {e}");
                if let Ok(s) = std::sync::Arc::try_unwrap(speaker) {
                    s.shutdown(SHUTDOWN_MESSAGE).await;
                }
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let metrics = match speaker.config().metrics.listen {
        Some(addr) => match speakerd::metrics::MetricsServer::start(addr, speaker.clone()).await {
            Ok(m) => Some(m),
            Err(e) => {
                error!("cannot start the metrics endpoint: {e}");
                if let Some(api) = api {
                    api.shutdown().await;
                }
                if let Ok(s) = std::sync::Arc::try_unwrap(speaker) {
                    s.shutdown(SHUTDOWN_MESSAGE).await;
                }
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    // systemd (Type=notify): ready once every session is configured and the API and metrics
    // listen. A no-op when not started by systemd (no NOTIFY_SOCKET).
    sd_notify(&[sd_notify::NotifyState::Ready]);
    let sig = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = usr2.recv() => break "SIGUSR2",
            _ = hup.recv() => {
                let mut reloading = vec![sd_notify::NotifyState::Reloading];
                reloading.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
                sd_notify(&reloading);
                match speaker.reload_file().await {
                    Ok(r) => info!("SIGHUP: configuration reloaded: {r}"),
                    Err(e) => error!("SIGHUP: new configuration refused, the running one stays:\n{e}"),
                }
                sd_notify(&[sd_notify::NotifyState::Ready]);
            }
        }
    };
    info!("{sig}: shutting down");
    sd_notify(&[sd_notify::NotifyState::Stopping]);
    if let Some(api) = api {
        api.shutdown().await;
    }
    if let Some(m) = metrics {
        m.shutdown().await;
    }
    if sig == "SIGUSR2" {
        // Connections closed without NOTIFICATION: peers keep our routes as stale for the
        // restart time; exit status 75 makes systemd start us again
        // (RestartForceExitStatus=75 in dist/speakerd.service).
        if let Ok(s) = std::sync::Arc::try_unwrap(speaker) {
            s.shutdown_graceful().await;
        }
        if let Some(m) = &marker
            && let Err(e) = std::fs::write(m, b"")
        {
            error!("cannot write the restart marker {}: {e}", m.display());
        }
        info!("stopped for a graceful restart");
        return ExitCode::from(EXIT_RESTART);
    }
    match std::sync::Arc::try_unwrap(speaker) {
        Ok(s) => s.shutdown(SHUTDOWN_MESSAGE).await,
        Err(_) => error!("the API still holds the speaker: sessions closed without a message"),
    }
    info!("stopped");
    ExitCode::SUCCESS
}

/// Tells systemd (`NOTIFY_SOCKET`) about our state; a failure is only logged.
fn sd_notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!("sd_notify: {e}");
    }
}
