//! A picture of the host: the caps report drawn as a layered graph, as
//! Graphviz DOT text or as a self-contained SVG.
//!
//! Pure: a function of the [`Caps`] report and nothing else (no sockets, no
//! files, no clock), so the same report always gives the same bytes and the
//! output can be checked against golden files.
//!
//! Why layered: host networking is a stack. Every device sits on the ones
//! below it (nics under bonds, bonds under VLANs, VLANs under bridges,
//! bridges under networks, vNICs on networks; OVN's `br-int` beside the
//! networks, fed by the OVS bridges it maps), so giving each device kind
//! its own column reads like the stack an operator has in mind, and a
//! misplaced device shows up as an edge that goes the wrong way or skips
//! where it should not.
//!
//! Why our own SVG layout: the SVG must come from the netswitch binary alone
//! on a host that has no Graphviz installed, and the layered structure makes
//! the problem small: the columns are fixed by kind, so only the order
//! within a column is left to choose (a few barycenter sweeps, see
//! [`layout`]). The DOT output is for people who do have Graphviz and want
//! its routing.

pub mod dot;
pub mod graph;
pub mod layout;
mod style;
pub mod svg;
mod text;
mod vms;

pub use graph::{Graph, Node, NodeKind, State};
use netswitch_model::caps::Caps;

/// The picture formats `netswitch caps --format` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Graphviz DOT text.
    Dot,
    /// A self-contained SVG document.
    Svg,
}

/// Draws the report in the given format.
pub fn draw(caps: &Caps, format: Format) -> String {
    match format {
        Format::Dot => dot::render(&Graph::from_caps(caps)),
        Format::Svg => svg::render(&Graph::from_caps(caps)),
    }
}
