//! Optional transmission: our own LLDPDU on an interface, every interval.

use crate::build::{build, Announce, BuildError};
use crate::sock;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// 802.1AB's default transmit interval.
pub const TX_INTERVAL: Duration = Duration::from_secs(30);

/// Why transmission could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransmitError {
    /// The announcement does not encode.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// No such interface, or the socket failed.
    #[error("LLDP transmit on {device}: {source}")]
    Io {
        /// The interface.
        device: String,
        /// The OS error.
        source: io::Error,
    },
}

/// Sends one LLDPDU (any bytes, for tests too) out of `device`, in the
/// calling thread's namespace.
pub fn send_once(device: &str, pdu: &[u8]) -> io::Result<()> {
    let fd = sock::open(Duration::from_millis(100))?;
    sock::send(&fd, sock::ifindex(device)?, pdu)
}

/// Announces on one interface until dropped.
pub struct Transmitter {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Transmitter {
    /// Sends `announce` on `device` now and every `interval` after, from a
    /// thread in the calling thread's namespace.
    pub fn spawn(
        device: &str,
        announce: &Announce,
        interval: Duration,
    ) -> Result<Self, TransmitError> {
        let pdu = build(announce)?;
        Self::spawn_with(device, interval, move || Some(pdu.clone()))
    }

    /// Sends what `make` gives on `device` now and every `interval` after
    /// (nothing that round when it gives `None`): for an announcement that
    /// follows the host, such as the networks a nic carries.
    pub fn spawn_with(
        device: &str,
        interval: Duration,
        mut make: impl FnMut() -> Option<Vec<u8>> + Send + 'static,
    ) -> Result<Self, TransmitError> {
        let io_err = |source| TransmitError::Io {
            device: device.to_string(),
            source,
        };
        let ifindex = sock::ifindex(device).map_err(io_err)?;
        let fd: OwnedFd = sock::open(Duration::from_millis(100)).map_err(io_err)?;
        let (tx, rx) = channel::<()>();
        let name = device.to_string();
        let thread = std::thread::Builder::new()
            .name("lldp-tx".into())
            .spawn(move || loop {
                if let Some(pdu) = make() {
                    if let Err(e) = sock::send(&fd, ifindex, &pdu) {
                        tracing::warn!(device = name, error = %e, "LLDP transmit failed");
                    }
                }
                if rx.recv_timeout(interval) != Err(RecvTimeoutError::Timeout) {
                    break;
                }
            })
            .map_err(io_err)?;
        Ok(Self {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Transmitter {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One packet socket kept open for many LLDPDUs out of any interface (a
/// peer simulator, benchmarks): [`send_once`] opens one per frame.
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    /// Opens the socket in the calling thread's namespace.
    pub fn open() -> io::Result<Self> {
        Ok(Self {
            fd: sock::open(Duration::from_millis(100))?,
        })
    }

    /// Sends `pdu` out of the interface with index `ifindex`.
    pub fn send(&self, ifindex: u32, pdu: &[u8]) -> io::Result<()> {
        sock::send(&self.fd, ifindex, pdu)
    }

    /// The index of the interface `name` (in the calling thread's
    /// namespace).
    pub fn ifindex(name: &str) -> io::Result<u32> {
        sock::ifindex(name)
    }
}
