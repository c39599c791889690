//! Where connections come from and who is on the other end.
//!
//! A [`Transport`] hands the server byte streams together with the
//! caller's [`Identity`]; a [`Policy`] decides from that identity whether
//! the caller may change the host. The Unix socket gives the peer's
//! credentials (SO_PEERCRED); a later STOMP-over-TLS transport gives the
//! subject of the client's certificate and brings a policy that knows which
//! subjects are the engine's.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{UnixListener, UnixStream};

/// Who is calling, as the transport vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A local process, from the kernel's peer credentials of the socket.
    Unix {
        /// The peer's user id.
        uid: u32,
        /// The peer's group id.
        gid: u32,
        /// The peer's process id, when the kernel gave one.
        pid: Option<i32>,
    },
    /// A client authenticated by a certificate (TLS transports).
    Certificate {
        /// The certificate's subject, as the transport prints it.
        subject: String,
    },
    /// The transport could not tell.
    Unknown,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Unix { uid, pid, .. } => match pid {
                Some(pid) => write!(f, "uid {uid} (pid {pid})"),
                None => write!(f, "uid {uid}"),
            },
            Identity::Certificate { subject } => write!(f, "certificate subject {subject:?}"),
            Identity::Unknown => f.write_str("an unidentified caller"),
        }
    }
}

/// A source of connections.
pub trait Transport: Send + 'static {
    /// One connection's byte stream.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// The next connection and who made it.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Identity)>> + Send;
}

/// Who may call the methods that change the host.
pub trait Policy: Send + Sync + 'static {
    /// `Ok` when `who` may call privileged methods; otherwise who may, for
    /// the caller's error message.
    fn may_change_host(&self, who: &Identity) -> Result<(), String>;
}

/// The Unix socket's policy: root only. The socket is mode 0600 besides,
/// so this matters when an admin loosens the mode to let readers in.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootOnly;

impl Policy for RootOnly {
    fn may_change_host(&self, who: &Identity) -> Result<(), String> {
        match who {
            Identity::Unix { uid: 0, .. } => Ok(()),
            _ => Err("only root (uid 0) may call it".into()),
        }
    }
}

/// The Unix socket transport: a listener whose peers are named by their
/// kernel credentials.
#[derive(Debug)]
pub struct UnixTransport {
    listener: UnixListener,
}

impl UnixTransport {
    /// Serves a listener already bound (see `socket::Bound`).
    pub fn new(listener: UnixListener) -> Self {
        Self { listener }
    }
}

impl Transport for UnixTransport {
    type Stream = UnixStream;

    async fn accept(&self) -> io::Result<(UnixStream, Identity)> {
        let (stream, _) = self.listener.accept().await?;
        let who = match stream.peer_cred() {
            Ok(c) => Identity::Unix {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
            },
            Err(_) => Identity::Unknown,
        };
        widen_send_buffer(&stream);
        Ok((stream, who))
    }
}

/// How much of an answer the kernel may hold for a client before the
/// writer waits: a 4000-device caps answer is about 4 MB, which the default
/// (about 200 KiB) sends in twenty rounds of wake-ups on both sides.
const SEND_BUFFER: libc::c_int = 4 << 20;

/// Lets one write of a big answer go out at once. Root may exceed the
/// system's `wmem_max` (`SO_SNDBUFFORCE`); otherwise the kernel caps the
/// plain request. Best effort: a failure leaves the default.
fn widen_send_buffer(stream: &UnixStream) {
    let fd = stream.as_raw_fd();
    for opt in [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
        // SAFETY: setsockopt on a socket we own, with a pointer to an int
        // and its size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&SEND_BUFFER as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_only_lets_uid_0_and_nobody_else_change_the_host() {
        let unix = |uid| Identity::Unix {
            uid,
            gid: 0,
            pid: None,
        };
        assert!(RootOnly.may_change_host(&unix(0)).is_ok());
        assert!(RootOnly.may_change_host(&unix(65534)).is_err());
        let cert = Identity::Certificate {
            subject: "CN=root".into(),
        };
        assert!(RootOnly.may_change_host(&cert).is_err());
        assert!(RootOnly.may_change_host(&Identity::Unknown).is_err());
    }
}
