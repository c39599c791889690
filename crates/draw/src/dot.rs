//! The graph as Graphviz DOT text: one `rank=same` group per layer, left to
//! right from the wire, in the order our own layout chose (so `dot` starts
//! from an order with few crossings and the text is deterministic).

use std::fmt::Write;

use crate::graph::{Graph, Node};
use crate::layout;
use crate::style::{fill, look};
use crate::text::dot as esc;

/// Renders the graph as a DOT digraph.
pub fn render(g: &Graph) -> String {
    let columns = layout::node_order(g);
    let mut s = String::from("digraph netswitch {\n");
    s.push_str("  rankdir=LR;\n  nodesep=0.25;\n  ranksep=0.8;\n");
    s.push_str(
        "  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=10];\n",
    );
    s.push_str("  edge [color=\"#475569\", arrowsize=0.6];\n");
    if !g.notes.is_empty() {
        let notes: Vec<String> = g.notes.iter().map(|n| esc(n)).collect();
        let _ = writeln!(s, "  labelloc=b;\n  label=\"{}\";", notes.join("\\n"));
    }
    for col in &columns {
        s.push_str("  {\n    rank=same;\n");
        for &i in col {
            let _ = writeln!(s, "    {}", node(&g.nodes[i]));
        }
        s.push_str("  }\n");
    }
    for e in &g.edges {
        let attrs = if e.active { " [penwidth=2.5]" } else { "" };
        let _ = writeln!(
            s,
            "  \"{}\" -> \"{}\"{attrs};",
            esc(&g.nodes[e.from].id),
            esc(&g.nodes[e.to].id)
        );
    }
    s.push_str("}\n");
    s
}

/// One node statement with its label and state colours.
fn node(n: &Node) -> String {
    let l = look(n.state);
    let label: Vec<String> = n.lines.iter().map(|x| esc(x)).collect();
    let style = if l.dashed {
        "rounded,filled,dashed"
    } else {
        "rounded,filled"
    };
    format!(
        "\"{}\" [label=\"{}\", tooltip=\"{}\", style=\"{style}\", fillcolor=\"{}\", color=\"{}\", penwidth={}, fontcolor=\"{}\"];",
        esc(&n.id),
        label.join("\\n"),
        n.kind.title(),
        l.fill.unwrap_or(fill(n.kind)),
        l.stroke,
        l.width,
        l.text
    )
}
