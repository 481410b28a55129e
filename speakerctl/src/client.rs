//! A blocking client of speakerd's local API: one request line out, one response line in.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde_json::Value;
use speakerd::api::proto::{ApiError, Request, Response};

/// Why a call failed.
#[derive(Debug)]
pub enum ClientError {
    /// Could not reach the daemon, or the connection broke.
    Io(String),
    /// The daemon answered with an error.
    Api(ApiError),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(m) => f.write_str(m),
            ClientError::Api(e) => write!(f, "{}: {}", e.code, e.message),
        }
    }
}

/// A connection to the API.
pub struct Client {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Client {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let s = UnixStream::connect(path).map_err(|e| {
            let hint = match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    " (is speakerd running, with `[api] socket` set to this path? use --socket PATH otherwise)"
                }
                io::ErrorKind::PermissionDenied => {
                    " (the socket is mode 0660: run as root or as a member of speakerd's group)"
                }
                _ => "",
            };
            ClientError::Io(format!("cannot connect to {}: {e}{hint}", path.display()))
        })?;
        let w = s
            .try_clone()
            .map_err(|e| ClientError::Io(format!("socket: {e}")))?;
        Ok(Client {
            r: BufReader::with_capacity(1 << 20, s),
            w,
        })
    }

    /// Sends a request and reads its response.
    pub fn call(&mut self, req: &Request) -> Result<Value, ClientError> {
        let mut line = serde_json::to_vec(req).map_err(|e| ClientError::Io(e.to_string()))?;
        line.push(b'\n');
        self.w
            .write_all(&line)
            .map_err(|e| ClientError::Io(format!("sending the request: {e}")))?;
        match self.read()? {
            Some(v) => match serde_json::from_value::<Response>(v) {
                Ok(Response::Result(v)) => Ok(v),
                Ok(Response::Error(e)) => Err(ClientError::Api(e)),
                Err(e) => Err(ClientError::Io(format!("unexpected response: {e}"))),
            },
            None => Err(ClientError::Io("speakerd closed the connection".into())),
        }
    }

    /// Reads the next line as JSON; `None` at end of stream.
    pub fn read(&mut self) -> Result<Option<Value>, ClientError> {
        let mut buf = Vec::new();
        let n = self
            .r
            .read_until(b'\n', &mut buf)
            .map_err(|e| ClientError::Io(format!("reading the response: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf)
            .map(Some)
            .map_err(|e| ClientError::Io(format!("invalid response line: {e}")))
    }
}
