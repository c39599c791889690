//! The provider client: the engine side of an external network provider
//! (docs/api.md §11), shared by the CLI (`netswitch provider ...`, `vnic
//! plug --provider`) and the daemon (`Host.addProvider`, ...,
//! `Host.plugVnic` with `provider`), so both keep the same files and make
//! the same calls with the same coded errors.
//!
//! - [`store`]: what is kept in the state directory (providers, their
//!   passwords apart and private, imported networks, the ports vNICs hold);
//! - [`ops`]: recording, testing, removing providers, listing their
//!   networks, importing and forgetting networks;
//! - [`port`]: the port lifecycle of a provider vNIC (create or reuse,
//!   plug, record; unplug, delete), against a [`port::Chassis`] that is the
//!   engine in this process or the daemon.
//!
//! Every call here is blocking (the Neutron client is); the daemon runs
//! them on its worker threads.

pub mod ops;
pub mod port;
pub mod store;

pub use ops::{client, AddRequest, Tested};
pub use port::{Chassis, PlugArgs, Plugged, Unplugged};
pub use store::{check_name, External, PortRecord, Provider, Secret, Store};

/// A refused or failed provider call: the VDSM code (docs/api.md §11.4)
/// and a message naming the provider, network, device or file at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// The VDSM code: 21, 24, 27 or 29 (or the host's code of a failed plug).
    pub code: u8,
    /// What failed and where.
    pub message: String,
}

impl Error {
    /// An error with a code and a message.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// The VDSM code.
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl From<netswitch_neutron_client::Error> for Error {
    fn from(e: netswitch_neutron_client::Error) -> Self {
        Error::new(e.code(), e.to_string())
    }
}

impl From<netswitch_engine::EngineError> for Error {
    fn from(e: netswitch_engine::EngineError) -> Self {
        Error::new(e.code(), e.to_string())
    }
}

/// Tags a provider error with the provider's name.
pub fn at(name: &str) -> impl Fn(netswitch_neutron_client::Error) -> Error + '_ {
    move |e| Error::new(e.code(), format!("provider {name}: {e}"))
}
