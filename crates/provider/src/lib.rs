//! `netswitch provider-ovn`: an external network provider serving Neutron
//! v2.0 and Keystone (v3 and v2.0) over the OVN northbound DB, as oVirt
//! engine and OpenStack clients expect (docs/api.md, provider section).
//!
//! The NB is read through netswitch's OVSDB client and its monitor-fed
//! replica ([`nb`]); each mutating REST call becomes one NB transaction
//! ([`neutron`]). HTTP is a small keep-alive server of our own ([`http`]),
//! one thread per connection. A client of other providers can be added
//! beside it later (a `client` module reusing [`neutron::query`] and the
//! Keystone shapes).

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod keystone;
pub mod nb;
pub mod neutron;
pub mod sb;
pub mod tls;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

pub use config::Config;
pub use error::{ApiError, Error};

/// A listener's TLS settings, built once at start.
type Tls = Option<Arc<rustls::ServerConfig>>;

/// A bound, connected provider, not yet serving.
pub struct Provider {
    keystone: (TcpListener, Arc<keystone::Keystone>, Tls),
    neutron: (TcpListener, Arc<neutron::Neutron>, Tls),
    limits: http::Limits,
}

impl Provider {
    /// Connects to the NB and binds both listeners (port 0 picks a free
    /// one, see [`Provider::addrs`]).
    pub fn start(config: Config) -> Result<Self, Error> {
        // Certificates first: a bad file is a config error before any
        // connection is made.
        let ks_tls = config
            .keystone_tls()
            .map(|f| tls::server_config(&f))
            .transpose()?;
        let nt_tls = config
            .neutron_tls()
            .map(|f| tls::server_config(&f))
            .transpose()?;
        let config = Arc::new(config);
        let nb = Arc::new(nb::Nb::connect(&config.nb_remotes)?);
        let sb = (!config.sb_remotes.is_empty())
            .then(|| sb::Sb::start(&config.sb_remotes))
            .transpose()?;
        let ks_l = http::bind(config.keystone_listen)?;
        let nt_l = http::bind(config.neutron_listen)?;
        // Catalog URLs must name the ports actually bound.
        let mut c = (*config).clone();
        c.keystone_listen = ks_l.local_addr()?;
        c.neutron_listen = nt_l.local_addr()?;
        let config = Arc::new(c);
        let tokens = Arc::new(keystone::Tokens::new(Arc::clone(&config)));
        let ks = Arc::new(keystone::Keystone::new(
            Arc::clone(&config),
            Arc::clone(&tokens),
        ));
        let nt = Arc::new(neutron::Neutron::new(Arc::clone(&config), tokens, nb).with_sb(sb));
        let limits = http::Limits {
            max_body: config.max_body,
            ..http::Limits::default()
        };
        Ok(Self {
            keystone: (ks_l, ks, ks_tls),
            neutron: (nt_l, nt, nt_tls),
            limits,
        })
    }

    /// The Keystone and Neutron addresses bound.
    pub fn addrs(&self) -> (SocketAddr, SocketAddr) {
        let a = |l: &TcpListener| l.local_addr().unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
        (a(&self.keystone.0), a(&self.neutron.0))
    }

    /// Serves both listeners until the process ends.
    pub fn serve(self) {
        let (ks_l, ks, ks_tls) = self.keystone;
        let limits = self.limits.clone();
        let ks_thread = std::thread::Builder::new()
            .name("keystone".into())
            .spawn(move || http::serve(ks_l, ks, limits, ks_tls));
        if ks_thread.is_err() {
            tracing::error!("cannot start the Keystone listener thread");
            return;
        }
        let (nt_l, nt, nt_tls) = self.neutron;
        http::serve(nt_l, nt, self.limits, nt_tls);
    }
}

/// Loads `config`, connects, binds, and serves until the process ends.
pub fn run(config: Config) -> Result<(), Error> {
    let p = Provider::start(config)?;
    let (k, n) = p.addrs();
    tracing::info!(keystone = %k, neutron = %n, "provider-ovn serving");
    p.serve();
    Ok(())
}
