//! Colours shared by the DOT and SVG renderers, so both pictures read the
//! same: the fill says what a device is, the border what state it is in.

use crate::graph::{NodeKind, State};

/// The fill of a node of this kind.
pub fn fill(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Nic => "#dbeafe",
        NodeKind::Other => "#f3f4f6",
        NodeKind::Bond => "#dcfce7",
        NodeKind::Vlan => "#fef9c3",
        NodeKind::Bridge => "#ede9fe",
        NodeKind::OvsBridge => "#ccfbf1",
        NodeKind::Network => "#ffedd5",
        NodeKind::OvnBridge => "#e0f2fe",
        NodeKind::Vnic => "#fce7f3",
    }
}

/// How a state is drawn: fill override, border colour, border width,
/// dashed, text colour.
pub struct Look {
    pub fill: Option<&'static str>,
    pub stroke: &'static str,
    pub width: &'static str,
    pub dashed: bool,
    pub text: &'static str,
}

/// The look of a state.
pub fn look(state: State) -> Look {
    match state {
        State::Up => Look {
            fill: None,
            stroke: "#334155",
            width: "1",
            dashed: false,
            text: "#0f172a",
        },
        State::Down => Look {
            fill: Some("#e5e7eb"),
            stroke: "#6b7280",
            width: "1.5",
            dashed: true,
            text: "#4b5563",
        },
        State::Drifted => Look {
            fill: Some("#fee2e2"),
            stroke: "#dc2626",
            width: "2.5",
            dashed: false,
            text: "#7f1d1d",
        },
    }
}

/// The state's word in the SVG's `class` attribute (what a page's script
/// or test reads back).
pub fn state_class(state: State) -> &'static str {
    match state {
        State::Up => "up",
        State::Down => "down",
        State::Drifted => "drifted",
    }
}

/// The legend's words for a state.
pub fn state_title(state: State) -> &'static str {
    match state {
        State::Up => "up",
        State::Down => "down / no speed",
        State::Drifted => "drifted / missing",
    }
}
