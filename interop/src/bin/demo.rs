//! `demo` — the ECMP + BFD failover scene in one command (`sudo make demo`; docs/DEMO.md).
//!
//! A router (FRR or BIRD) holds one ECMP route to 203.0.113.100 through three nodes
//! (speakerd or BIRD), each serving a web page on that address. One node fails, BFD removes
//! it within a few hundred milliseconds while `curl` keeps getting answers; it comes back;
//! another node's daemon stops cleanly. Needs root. Everything it creates is removed on
//! every exit path, Ctrl-C included.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use interop::demo::{self, DemoError, NodeKind, Options, RouterKind, config};

/// Raised by the first SIGINT/SIGTERM/SIGHUP: every wait of the scene stops, the lab is
/// dropped (its teardown removes everything) and the program exits.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set when the scene has returned (its cleanup is done).
static DONE: AtomicBool = AtomicBool::new(false);
/// The lab's prefix and directory, for a cleanup without the lab (second signal, or the
/// scene not stopping in time).
static LAB: Mutex<Option<(String, PathBuf)>> = Mutex::new(None);

const USAGE: &str = "\
usage: demo [--router frr|bird] [--nodes speakerd|bird] [--ci] [--speakerd PATH]
            [--no-install] [--pause SECONDS]

  --router R      the router: frr (default) or bird
  --nodes N       the nodes' BGP + BFD daemon: speakerd (default) or bird; a list
                  (speakerd,bird) runs the scene once with each and compares them
  --ci            check every step, stop at the first failure with the router's view,
                  no pauses (exit status 1 on failure)
  --speakerd P    the speakerd binary (default: beside this program, then
                  target/release/speakerd, target/debug/speakerd)
  --no-install    do not install missing Debian packages
  --pause S       seconds to pause after each step (interactive runs; default 2)

Needs root. Ctrl-C at any time removes everything the demo created.";

struct Args {
    opts: Options,
    /// The node daemons to run the scene with, one run each (`--nodes speakerd,bird`).
    nodes: Vec<NodeKind>,
    install: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut opts = Options {
        router: RouterKind::Frr,
        nodes: NodeKind::Speakerd,
        ci: false,
        speakerd: None,
        pause: Duration::from_secs(2),
    };
    let mut install = true;
    let mut nodes = vec![NodeKind::Speakerd];
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--router" => opts.router = value("--router")?.parse()?,
            "--nodes" => {
                nodes = value("--nodes")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<Vec<NodeKind>, String>>()?;
            }
            "--ci" => opts.ci = true,
            "--speakerd" => opts.speakerd = Some(PathBuf::from(value("--speakerd")?)),
            "--no-install" => install = false,
            "--pause" => {
                let v = value("--pause")?;
                let s: f64 = v
                    .parse()
                    .map_err(|_| format!("--pause {v:?}: not a number"))?;
                if !(0.0..=60.0).contains(&s) {
                    return Err(format!("--pause {v}: between 0 and 60 seconds"));
                }
                opts.pause = Duration::from_secs_f64(s);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    Ok(Args {
        opts,
        nodes,
        install,
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Install the missing Debian packages (only those), with apt-get. Packages whose install
/// started a system service (FRR, BIRD on a systemd host) get it stopped and disabled: the
/// demo runs its own instances inside namespaces.
fn ensure_packages(opts: &Options, nodes: &[NodeKind], install: bool) -> Result<(), String> {
    let missing = config::missing(&config::packages(opts.router, nodes));
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    let apt = interop::find_binary("apt-get").is_some();
    if !install || !apt {
        return Err(format!(
            "missing packages: {} (install them: apt-get install {})",
            names.join(" "),
            names.join(" ")
        ));
    }
    println!("== Installing the missing packages: {} ==", names.join(" "));
    let run = |args: &[&str]| -> Result<(), String> {
        let st = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run apt-get: {e}"))?;
        if STOP.load(Ordering::Relaxed) {
            return Err("interrupted".into());
        }
        st.success()
            .then_some(())
            .ok_or(format!("apt-get {} failed ({st})", args.join(" ")))
    };
    run(&["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&names);
    run(&args)?;
    let still = config::missing(&missing);
    if !still.is_empty() {
        return Err(format!("still missing after apt-get install: {still:?}"));
    }
    if std::path::Path::new("/run/systemd/system").exists() {
        for (pkg, unit) in [("frr", "frr"), ("bird2", "bird")] {
            if names.contains(&pkg) {
                let _ = Command::new("systemctl")
                    .args(["disable", "--now", "-q", unit])
                    .stderr(Stdio::null())
                    .status();
                println!("stopped and disabled the {unit} service the package started");
            }
        }
    }
    Ok(())
}

fn install_signal_handler() -> Result<(), String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    std::thread::spawn(move || {
        for (i, sig) in signals.forever().enumerate() {
            if i == 0 {
                STOP.store(true, Ordering::Relaxed);
                eprintln!(
                    "\ndemo: signal {sig}: stopping and removing everything (again to force)"
                );
                std::thread::spawn(|| {
                    std::thread::sleep(Duration::from_secs(20));
                    if !DONE.load(Ordering::Relaxed) {
                        eprintln!("demo: the scene did not stop in 20 s: forcing cleanup");
                        force_cleanup();
                    }
                });
            } else {
                eprintln!("demo: forcing cleanup");
                force_cleanup();
            }
        }
    });
    Ok(())
}

fn force_cleanup() -> ! {
    let lab = LAB.lock().ok().and_then(|l| l.clone());
    if let Some((prefix, dir)) = lab {
        demo::emergency_cleanup(&prefix, Some(&dir));
    }
    std::process::exit(130);
}

fn main() -> ExitCode {
    let Args {
        mut opts,
        nodes,
        install,
    } = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("demo: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !is_root() {
        eprintln!("demo: needs root (network namespaces): run `sudo make demo`");
        return ExitCode::from(1);
    }
    if let Err(e) = install_signal_handler() {
        eprintln!("demo: {e}");
        return ExitCode::from(1);
    }
    if let Err(e) = ensure_packages(&opts, &nodes, install) {
        eprintln!("demo: {e}");
        return ExitCode::from(if STOP.load(Ordering::Relaxed) { 130 } else { 1 });
    }
    if nodes.contains(&NodeKind::Speakerd) {
        if opts.speakerd.is_none() {
            opts.speakerd = config::default_speakerd();
        }
        match &opts.speakerd {
            Some(p) if p.is_file() => {}
            Some(p) => {
                eprintln!("demo: no speakerd binary at {}", p.display());
                return ExitCode::from(1);
            }
            None => {
                eprintln!(
                    "demo: speakerd not found; build it (`cargo build --release -p speakerd`, \
                     which `make demo` does) or pass --speakerd PATH"
                );
                return ExitCode::from(1);
            }
        }
    }
    let mut reports = Vec::new();
    let mut failed = false;
    for kind in nodes {
        opts.nodes = kind;
        match run_once(&opts) {
            Ok(report) => {
                failed |= !report.ok();
                reports.push((kind, report));
            }
            Err(code) => return code,
        }
    }
    DONE.store(true, Ordering::Relaxed);
    if reports.len() > 1 {
        println!("\n== Side by side (router {}) ==", opts.router);
        print!("{}", demo::compare(&reports));
    }
    if failed {
        eprintln!("demo: some checks failed (see the table)");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// One run of the scene; its summary printed. `Err` carries the exit code of a run that
/// ended early.
fn run_once(opts: &Options) -> Result<demo::Report, ExitCode> {
    DONE.store(false, Ordering::Relaxed);
    if STOP.load(Ordering::Relaxed) {
        return Err(ExitCode::from(130));
    }
    let res = demo::run(opts, &STOP, |lab| {
        if let Ok(mut l) = LAB.lock() {
            *l = Some((lab.prefix().to_string(), lab.dir().to_path_buf()));
        }
    });
    DONE.store(true, Ordering::Relaxed);
    match res {
        Ok(report) => {
            println!(
                "\n== 6. Summary (router {}, nodes {}) ==",
                opts.router, opts.nodes
            );
            print!("{}", report.table());
            println!("\nRESULT {}", report.line(opts));
            Ok(report)
        }
        Err(DemoError::Interrupted) => {
            eprintln!("demo: interrupted; everything it created has been removed");
            Err(ExitCode::from(130))
        }
        Err(e) => {
            eprintln!("\ndemo FAILED: {e}");
            Err(ExitCode::from(1))
        }
    }
}
