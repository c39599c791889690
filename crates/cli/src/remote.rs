//! `netswitch daemon`'s listeners beside the Unix socket: JSON-RPC over
//! STOMP on mutual TLS for an engine (`docs/howto-engine.md`), and the
//! read-only status page.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use netswitch_daemon::{HttpConfig, Listeners, StompConfig};

use crate::failure::Failure;

/// The daemon's flags.
#[derive(Args, Debug, Default)]
pub struct DaemonArgs {
    /// Also serve JSON-RPC over STOMP 1.2 on TLS at ADDR:PORT (VDSM's port
    /// is 54321), a client certificate signed by --ca required.
    #[arg(long, value_name = "ADDR:PORT", requires_all = ["cert", "key", "ca"])]
    pub listen: Option<SocketAddr>,
    /// The listener's certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub cert: Option<PathBuf>,
    /// The listener's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub key: Option<PathBuf>,
    /// The CA that client certificates must chain to (PEM).
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub ca: Option<PathBuf>,
    /// A file of certificate subjects (RFC 4514, as `openssl x509 -noout
    /// -subject -nameopt RFC2253` prints them; one a line, `#` comments)
    /// that may call the verbs that change the host. Default: none may.
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub authorized_subjects: Option<PathBuf>,
    /// A certificate subject that may call the verbs that change the host
    /// (repeatable; added to --authorized-subjects).
    #[arg(long, value_name = "SUBJECT", requires = "listen")]
    pub allow_mutating: Vec<String>,
    /// STOMP connections open at once; past it, one still in its handshake
    /// or stalled is dropped to make room, else the newcomer is refused.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub max_stomp_connections: u16,
    /// Also serve a read-only status page at ADDR:PORT: the host's
    /// picture, the networks table, the last events live. Loopback only
    /// unless --http-allow-remote.
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,
    /// Let --http listen on an address that is not loopback.
    #[arg(long, requires = "http")]
    pub http_allow_remote: bool,
}

impl DaemonArgs {
    /// The listeners these flags ask for.
    pub fn listeners(&self) -> Result<Listeners, Failure> {
        let http = self.http.map(|listen| HttpConfig {
            listen,
            allow_remote: self.http_allow_remote,
        });
        let Some(listen) = self.listen else {
            return Ok(Listeners { stomp: None, http });
        };
        let mut mutating = self.allow_mutating.clone();
        if let Some(file) = &self.authorized_subjects {
            let subjects = netswitch_daemon::read_subjects(file)
                .map_err(|e| Failure::new(21, format!("--authorized-subjects {e}")))?;
            mutating.extend(subjects);
        }
        let (Some(cert), Some(key), Some(ca)) = (&self.cert, &self.key, &self.ca) else {
            return Err(Failure::new(21, "--listen needs --cert, --key and --ca"));
        };
        Ok(Listeners {
            stomp: Some(StompConfig {
                listen,
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
                mutating,
                max_connections: usize::from(self.max_stomp_connections),
            }),
            http,
        })
    }
}
