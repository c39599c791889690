//! The graph as a self-contained SVG document, laid out by [`crate::layout`]:
//! no scripts, no external fonts or images, every text XML-escaped, integer
//! coordinates, so the same report gives the same bytes.

use std::fmt::Write;

use crate::graph::{Graph, NodeKind, State};
use crate::layout::{self, Layout, Rect, CHAR_W, LINE_H, MARGIN};
use crate::style::{fill, look, state_class, state_title};
use crate::text::xml;

const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
/// Height of the legend's swatch rows.
const LEGEND_ROW: u32 = 22;

/// Renders the graph as SVG.
pub fn render(g: &Graph) -> String {
    let lay = layout::place(g);
    let legend_y = lay.height + 8;
    let legend_h = LEGEND_ROW * 2 + LINE_H * g.notes.len() as u32 + 16;
    let width = lay.width.max(legend_width(g));
    let height = legend_y + legend_h + MARGIN;
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"{FONT}\" font-size=\"12\">"
    );
    s.push_str("<title>netswitch: host networking</title>\n");
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    headings(&mut s, g, &lay);
    if g.nodes.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{MARGIN}\" y=\"{}\" fill=\"#475569\">no devices, no networks</text>",
            layout::TOP
        );
    }
    edges(&mut s, g, &lay);
    for (i, n) in g.nodes.iter().enumerate() {
        node(&mut s, n, lay.boxes[i]);
    }
    legend(&mut s, g, legend_y);
    s.push_str("</svg>\n");
    s
}

/// The kind(s) of each column, above it.
fn headings(s: &mut String, g: &Graph, lay: &Layout) {
    for c in 0..lay.columns.len() {
        let real = lay.real(c, g.nodes.len());
        let mut kinds: Vec<NodeKind> = real.iter().map(|&i| g.nodes[i].kind).collect();
        kinds.sort();
        kinds.dedup();
        let words: Vec<&str> = kinds.iter().map(|k| k.title()).collect();
        let (x, w) = lay.column_x[c];
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\" fill=\"#475569\">{}</text>",
            x + w / 2,
            layout::TOP - 16,
            xml(&words.join(" / "))
        );
    }
}

/// Edges under the boxes: from the lower device's right side, through the
/// lane of every column it skips, to the upper one's left side, as cubic
/// curves between columns; a loop on the right within one column.
fn edges(s: &mut String, g: &Graph, lay: &Layout) {
    s.push_str("<g fill=\"none\" stroke=\"#475569\">\n");
    for (e, route) in g.edges.iter().zip(&lay.routes) {
        let d = path(route, lay);
        let mut attrs = String::new();
        if e.active {
            attrs.push_str(" stroke-width=\"2.5\"");
        }
        if g.nodes[e.from].state == State::Down {
            attrs.push_str(" stroke-dasharray=\"4 3\" stroke=\"#9ca3af\"");
        }
        let _ = writeln!(s, "<path d=\"{d}\"{attrs}/>");
    }
    s.push_str("</g>\n");
}

/// The SVG path data of one route.
fn path(route: &[usize], lay: &Layout) -> String {
    let mid = |r: Rect| r.y + r.h / 2;
    let (first, last) = (route[0], route[route.len() - 1]);
    let (a, b) = (lay.boxes[first], lay.boxes[last]);
    if lay.column_of[first] == lay.column_of[last] {
        let x = (a.x + a.w).max(b.x + b.w) + 30;
        let (y1, y2) = (mid(a), mid(b));
        return format!("M{} {y1} C{x} {y1} {x} {y2} {} {y2}", a.x + a.w, b.x + b.w);
    }
    let mut d = format!("M{} {}", a.x + a.w, mid(a));
    let mut from = (a.x + a.w, mid(a));
    for &slot in &route[1..] {
        let r = lay.boxes[slot];
        let to = (r.x, mid(r));
        let cx = from.0 + to.0.saturating_sub(from.0) / 2;
        let _ = write!(d, " C{cx} {} {cx} {} {} {}", from.1, to.1, to.0, to.1);
        if slot != last {
            let _ = write!(d, " H{}", r.x + r.w);
        }
        from = (r.x + r.w, to.1);
    }
    d
}

/// One box: a rounded rectangle, the name in bold, the details under it.
fn node(s: &mut String, n: &crate::graph::Node, r: Rect) {
    let l = look(n.state);
    let dash = if l.dashed {
        " stroke-dasharray=\"5 3\""
    } else {
        ""
    };
    // The kind and state as classes and the node's id as data: what the
    // status page's tests (and anyone styling the picture) select on.
    let _ = writeln!(
        s,
        "<g class=\"node {} {}\" data-node=\"{}\">\n<title>{} {}</title>",
        n.kind.class(),
        state_class(n.state),
        xml(&n.id),
        n.kind.title(),
        xml(&n.lines[0])
    );
    let _ = writeln!(
        s,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{dash}/>",
        r.x,
        r.y,
        r.w,
        r.h,
        l.fill.unwrap_or(fill(n.kind)),
        l.stroke,
        l.width
    );
    for (k, line) in n.lines.iter().enumerate() {
        let bold = if k == 0 { " font-weight=\"bold\"" } else { "" };
        let y = r.y + 4 + LINE_H * (k as u32 + 1);
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{y}\" text-anchor=\"middle\" fill=\"{}\"{bold}>{}</text>",
            r.x + r.w / 2,
            l.text,
            xml(line)
        );
    }
    s.push_str("</g>\n");
}

const STATES: [State; 3] = [State::Up, State::Down, State::Drifted];

/// Width of a legend row: swatch, gap, words.
fn item_w(words: &str) -> u32 {
    22 + words.chars().count() as u32 * CHAR_W + 16
}

fn legend_width(g: &Graph) -> u32 {
    let kinds: u32 = NodeKind::ALL.iter().map(|k| item_w(k.title())).sum();
    let states: u32 = STATES.iter().map(|s| item_w(state_title(*s))).sum();
    let notes = g
        .notes
        .iter()
        .map(|n| n.chars().count() as u32 * CHAR_W)
        .max()
        .unwrap_or(0);
    2 * MARGIN + 64 + kinds.max(states).max(notes)
}

/// The legend: one row of kinds (fills), one of states (borders), then the
/// host-wide notes.
fn legend(s: &mut String, g: &Graph, y: u32) {
    s.push_str("<g>\n");
    let row = |s: &mut String, y: u32, head: &str, items: Vec<(&str, &str, State)>| {
        let _ = writeln!(
            s,
            "<text x=\"{MARGIN}\" y=\"{}\" font-weight=\"bold\" fill=\"#475569\">{head}</text>",
            y + 12
        );
        let mut x = MARGIN + 64;
        for (words, f, st) in items {
            let l = look(st);
            let dash = if l.dashed {
                " stroke-dasharray=\"4 2\""
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "<rect x=\"{x}\" y=\"{}\" width=\"16\" height=\"14\" rx=\"3\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{dash}/>",
                y + 1,
                l.fill.unwrap_or(f),
                l.stroke,
                l.width
            );
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" fill=\"#0f172a\">{}</text>",
                x + 22,
                y + 12,
                xml(words)
            );
            x += item_w(words);
        }
    };
    let kinds = NodeKind::ALL
        .iter()
        .map(|k| (k.title(), fill(*k), State::Up))
        .collect();
    row(s, y, "kinds", kinds);
    let states = STATES
        .iter()
        .map(|st| (state_title(*st), "#ffffff", *st))
        .collect();
    row(s, y + LEGEND_ROW, "states", states);
    for (k, note) in g.notes.iter().enumerate() {
        let ny = y + 2 * LEGEND_ROW + 12 + LINE_H * k as u32;
        let _ = writeln!(
            s,
            "<text x=\"{MARGIN}\" y=\"{ny}\" fill=\"#0f172a\">{}</text>",
            xml(note)
        );
    }
    s.push_str("</g>\n");
}
