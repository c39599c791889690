//! The methods the daemon serves, each registered once with what it may
//! do: dispatch, authorization and the one-at-a-time rule are read from
//! here, so a new method is one registration and never a new string match.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::codes;
use crate::rpc::{Body, Out, RpcError};
use crate::state::{Daemon, Slot};
use crate::transport::{Identity, Policy};

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone the transport let in: reads.
    Anyone,
    /// Callers the [`Policy`] lets change the host.
    Privileged,
}

/// Whether a method waits for nothing or takes the host for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Runs beside anything (reads; `confirmConnectivity`, which a
    /// waiting setup needs to get through).
    Concurrent,
    /// One such method at a time; a second gets code 40 at once.
    Exclusive,
}

/// One call of a method: what its handler gets.
pub(crate) struct Call {
    pub daemon: Arc<Daemon>,
    pub params: Option<Value>,
    /// The connection's outgoing messages (for notifications).
    pub out: mpsc::Sender<Out>,
    /// The one-at-a-time slot, held by an exclusive method until its
    /// handler drops the call.
    pub slot: Option<Slot>,
}

type Reply = Pin<Box<dyn Future<Output = Result<Body, RpcError>> + Send>>;
type Handler = Box<dyn Fn(Call) -> Reply + Send + Sync>;

/// A registered method.
pub(crate) struct Method {
    pub name: &'static str,
    pub access: Access,
    pub turn: Turn,
    handler: Handler,
}

/// Every method the daemon serves, by name.
#[derive(Default)]
pub(crate) struct Registry {
    methods: HashMap<&'static str, Method>,
}

impl Registry {
    /// Adds a method. A name registered twice is a programming error.
    pub fn add<F, Fut>(&mut self, name: &'static str, access: Access, turn: Turn, handler: F)
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Body, RpcError>> + Send + 'static,
    {
        let handler: Handler = Box::new(move |call| Box::pin(handler(call)));
        let old = self.methods.insert(
            name,
            Method {
                name,
                access,
                turn,
                handler,
            },
        );
        assert!(old.is_none(), "{name} registered twice");
    }

    /// A method by name.
    pub fn get(&self, name: &str) -> Option<&Method> {
        self.methods.get(name)
    }

    /// Runs `name` for `who`: unknown methods, callers the policy refuses
    /// and a second exclusive method are answered here, before any
    /// handler runs.
    pub async fn dispatch(
        &self,
        policy: &dyn Policy,
        who: &Identity,
        name: &str,
        mut call: Call,
    ) -> Result<Body, RpcError> {
        let Some(method) = self.get(name) else {
            return Err(RpcError::new(
                codes::METHOD_NOT_FOUND,
                format!("no method {}", netswitch_model::error::clip(name, 80)),
            ));
        };
        if method.access == Access::Privileged {
            policy.may_change_host(who).map_err(|rule| {
                RpcError::new(
                    codes::PERMISSION_DENIED,
                    format!(
                        "{}: permission denied: {rule}; the caller is {who}",
                        method.name
                    ),
                )
            })?;
        }
        if method.turn == Turn::Exclusive {
            // Taken here, at once, so a concurrent caller gets 40 without
            // waiting.
            call.slot = Some(call.daemon.take_slot(method.name)?);
        }
        (method.handler)(call).await
    }
}
