//! speakerctl: the command-line client of speakerd's local API (newline-delimited JSON over
//! a Unix socket, see `docs/API.md`), and an offline decoder of BGP messages and BFD packets
//! (hex or pcap in, JSON out).
//!
//! The binary is a thin `main` around [`run`]; the pieces are public for tests and reuse:
//! [`cli`] (the clap definition and the route file format), [`client`] (a blocking API
//! client), [`decode`] and [`output`] (tables).
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod decode;
pub mod output;

use std::io::{Read, Write};

use bgp_wire::DecodeContext;
use clap::CommandFactory;
use serde::de::DeserializeOwned;
use serde_json::Value;
use speakerd::api::proto::{
    AnnounceResult, EventLine, PeersResult, ReloadResult, Request, RoutesResult, SetResult,
    VersionResult, WithdrawResult,
};

use cli::{Cli, Command};
use client::{Client, ClientError};

/// Why a command failed; `main` prints it as `error: ...` and exits 1.
#[derive(Debug)]
pub enum CtlError {
    /// The daemon answered with an error (`error: <code>: <message>`).
    Api(speakerd::api::proto::ApiError),
    /// Anything else (connection, file, input).
    Other(String),
}

impl std::fmt::Display for CtlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CtlError::Api(e) => write!(f, "{}: {}", e.code, e.message),
            CtlError::Other(m) => f.write_str(m),
        }
    }
}

impl From<ClientError> for CtlError {
    fn from(e: ClientError) -> CtlError {
        match e {
            ClientError::Api(e) => CtlError::Api(e),
            ClientError::Io(m) => CtlError::Other(m),
        }
    }
}

fn io_err(e: std::io::Error) -> CtlError {
    CtlError::Other(e.to_string())
}

fn read_input(name: &str, stdin: &mut dyn Read) -> Result<Vec<u8>, CtlError> {
    let mut buf = Vec::new();
    if name == "-" {
        stdin.read_to_end(&mut buf).map_err(io_err)?;
    } else {
        buf = std::fs::read(name).map_err(|e| CtlError::Other(format!("{name}: {e}")))?;
    }
    Ok(buf)
}

fn read_text(name: &str, stdin: &mut dyn Read) -> Result<String, CtlError> {
    String::from_utf8(read_input(name, stdin)?)
        .map_err(|_| CtlError::Other(format!("{name}: not UTF-8 text")))
}

fn typed<T: DeserializeOwned>(v: Value) -> Result<T, CtlError> {
    serde_json::from_value(v).map_err(|e| CtlError::Other(format!("unexpected response: {e}")))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Runs one command line. Output goes to `out`; route/prefix/hex files named `-` are read
/// from `stdin`.
pub fn run(cli: Cli, stdin: &mut dyn Read, out: &mut dyn Write) -> Result<(), CtlError> {
    let w = |out: &mut dyn Write, s: &str| out.write_all(s.as_bytes()).map_err(io_err);
    match cli.command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "speakerctl", &mut buf);
            out.write_all(&buf).map_err(io_err)
        }
        Command::Decode(a) => {
            let mut ctx = DecodeContext::default();
            for t in &a.ctx {
                decode::apply_ctx_token(&mut ctx, t).map_err(CtlError::Other)?;
            }
            let objects = match &a.file {
                Some(f) => {
                    let bytes = read_input(f, stdin)?;
                    if decode::is_pcap(&bytes) {
                        decode::decode_pcap_port(&bytes, &ctx, !a.ctx.is_empty(), a.bgp_port)
                            .map_err(CtlError::Other)?
                    } else {
                        let text = String::from_utf8(bytes).map_err(|_| {
                            CtlError::Other(format!(
                                "{f}: neither a pcap file nor hex text (pcapng is not supported)"
                            ))
                        })?;
                        decode::decode_hex_text(&text, ctx, a.bfd).map_err(CtlError::Other)?
                    }
                }
                None => decode::decode_hex_text(&a.hex.join(" "), ctx, a.bfd)
                    .map_err(CtlError::Other)?,
            };
            for o in objects {
                w(out, &output::json(&o, a.pretty))?;
                w(out, "\n")?;
            }
            Ok(())
        }
        cmd => {
            let mut c = Client::connect(&cli.socket)?;
            api_command(&mut c, cmd, cli.json, stdin, out)
        }
    }
}

/// Turns a command's result into human output.
type Printer = Box<dyn Fn(Value) -> Result<String, CtlError>>;

fn api_command(
    c: &mut Client,
    cmd: Command,
    json: bool,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<(), CtlError> {
    let mut w = |s: String| out.write_all(s.as_bytes()).map_err(io_err);
    let (req, print): (Request, Printer) = match cmd {
        Command::Announce(a) => {
            let routes = match &a.file {
                Some(f) => cli::parse_route_file(&read_text(f, stdin)?, f, &a.opts)
                    .map_err(CtlError::Other)?,
                None => a.prefixes.iter().map(|p| a.opts.route(p)).collect(),
            };
            (
                Request::Announce { routes },
                Box::new(|v| {
                    let r: AnnounceResult = typed(v)?;
                    Ok(format!(
                        "announced {} ({} changed)\n",
                        plural(r.announced, "route", "routes"),
                        r.changed
                    ))
                }),
            )
        }
        Command::Withdraw(a) => {
            let prefixes = match &a.file {
                Some(f) => {
                    cli::parse_prefix_file(&read_text(f, stdin)?, f).map_err(CtlError::Other)?
                }
                None => a.prefixes.clone(),
            };
            (
                Request::Withdraw { prefixes },
                Box::new(|v| {
                    let r: WithdrawResult = typed(v)?;
                    Ok(format!(
                        "withdrew {} ({} were announced)\n",
                        plural(r.withdrawn, "prefix", "prefixes"),
                        r.changed
                    ))
                }),
            )
        }
        Command::Set(a) => {
            let routes = cli::parse_route_file(&read_text(&a.file, stdin)?, &a.file, &a.opts)
                .map_err(CtlError::Other)?;
            (
                Request::Set { routes },
                Box::new(|v| {
                    let r: SetResult = typed(v)?;
                    Ok(format!(
                        "set {} ({} changed)\n",
                        plural(r.routes, "route", "routes"),
                        r.changed
                    ))
                }),
            )
        }
        Command::Routes(a) => {
            let received = a.received;
            (
                Request::Routes {
                    peer: a.peer,
                    received,
                },
                Box::new(move |v| Ok(output::routes(&typed::<RoutesResult>(v)?, received))),
            )
        }
        Command::Peers => (
            Request::Peers,
            Box::new(|v| Ok(output::peers(&typed::<PeersResult>(v)?))),
        ),
        Command::Reload => (
            Request::Reload,
            Box::new(|v| Ok(format!("{}\n", typed::<ReloadResult>(v)?.message))),
        ),
        Command::Version => (
            Request::Version,
            Box::new(|v| {
                let r: VersionResult = typed(v)?;
                Ok(format!(
                    "speakerctl {}\n{} {} (API {})\n",
                    env!("CARGO_PKG_VERSION"),
                    r.name,
                    r.version,
                    r.api
                ))
            }),
        ),
        Command::Watch => {
            c.call(&Request::Watch)?;
            while let Some(line) = c.read()? {
                if json {
                    w(format!("{line}\n"))?;
                } else {
                    let e: EventLine = typed(line)?;
                    w(format!("{}\n", output::event(&e.event)))?;
                }
            }
            return Ok(());
        }
        Command::Decode(_) | Command::Completions { .. } => {
            return Err(CtlError::Other("not an API command".into()));
        }
    };
    let v = c.call(&req)?;
    if json {
        w(format!("{v}\n"))
    } else {
        w(print(v)?)
    }
}
