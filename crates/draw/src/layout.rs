//! Where the boxes go: one column per layer in use, an order within each
//! column, then coordinates.
//!
//! The columns are fixed by device kind (see [`crate::graph::NodeKind`]), so
//! the only freedom is the order within a column. That order comes from the
//! barycenter heuristic (Sugiyama et al.): sweep the columns left to right
//! placing each node at the mean position of its neighbours in the columns
//! already placed, then right to left, a few times, and keep the order with
//! the fewest crossings seen. Ties keep the previous order, and the start is
//! the report's (sorted) order, so the result is deterministic.

use crate::graph::Graph;

/// Sweeps in each direction; small graphs settle in one or two.
const ROUNDS: usize = 4;
/// Width of one character of the monospace font at 12px, rounded up so
/// bold names still fit.
pub const CHAR_W: u32 = 8;
pub const LINE_H: u32 = 15;
const PAD: u32 = 8;
const MIN_W: u32 = 96;
const COL_GAP: u32 = 80;
const ROW_GAP: u32 = 16;
/// Height of a dummy slot: the lane a long edge takes through a column.
const DUMMY_H: u32 = 6;
pub const MARGIN: u32 = 20;
/// Room above the columns for the column headings.
pub const TOP: u32 = 56;

/// A box in SVG user units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// The placed graph. Slots `0..nodes` are the graph's nodes; the slots after
/// them are the dummies of edges that skip columns: each takes a thin slot
/// in every column the edge passes, so the edge runs through a gap of its
/// own instead of under other boxes, and takes part in the ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Slots per column, top to bottom (dummies included).
    pub columns: Vec<Vec<usize>>,
    /// The column of every slot.
    pub column_of: Vec<usize>,
    /// The box of every slot (a dummy's spans its column).
    pub boxes: Vec<Rect>,
    /// Per graph edge, the slots it passes from its lower end to its upper
    /// end, ends included.
    pub routes: Vec<Vec<usize>>,
    /// Links between slots in adjacent (or the same) columns, lower first.
    pub links: Vec<(usize, usize)>,
    /// The left edge and width of every column.
    pub column_x: Vec<(u32, u32)>,
    /// The extent of the drawing (without the legend).
    pub width: u32,
    pub height: u32,
}

impl Layout {
    /// Pairs of links between the same two columns that cross.
    pub fn crossings(&self) -> usize {
        crossings(&self.links, &self.columns, &self.column_of)
    }

    /// The graph's own nodes in a column, top to bottom (no dummies).
    pub fn real(&self, c: usize, nodes: usize) -> Vec<usize> {
        self.columns[c]
            .iter()
            .copied()
            .filter(|&i| i < nodes)
            .collect()
    }
}

/// The graph split into slots and adjacent-column links, in start order.
struct Slots {
    columns: Vec<Vec<usize>>,
    column_of: Vec<usize>,
    routes: Vec<Vec<usize>>,
    links: Vec<(usize, usize)>,
}

/// Columns (layers in use, left to right) in the start order, the graph's
/// own (the report's sorted order within each kind), and a dummy slot per
/// skipped column of every long edge.
fn slots(g: &Graph) -> Slots {
    let mut used: Vec<usize> = g.nodes.iter().map(|n| n.kind.layer()).collect();
    used.sort_unstable();
    used.dedup();
    let mut columns = vec![Vec::new(); used.len()];
    let mut column_of = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        let c = used.binary_search(&n.kind.layer()).unwrap_or(0);
        columns[c].push(i);
        column_of.push(c);
    }
    let (mut routes, mut links) = (Vec::new(), Vec::new());
    for e in &g.edges {
        let (a, b) = if column_of[e.from] <= column_of[e.to] {
            (e.from, e.to)
        } else {
            (e.to, e.from)
        };
        let mut route = vec![a];
        let (lo, hi) = (column_of[a] + 1, column_of[b]);
        for (c, col) in columns.iter_mut().enumerate().take(hi).skip(lo) {
            let d = column_of.len();
            column_of.push(c);
            col.push(d);
            route.push(d);
        }
        route.push(b);
        links.extend(route.windows(2).map(|w| (w[0], w[1])));
        routes.push(route);
    }
    Slots {
        columns,
        column_of,
        routes,
        links,
    }
}

/// Pairs of links between the same two adjacent columns that cross.
fn crossings(links: &[(usize, usize)], columns: &[Vec<usize>], column_of: &[usize]) -> usize {
    let pos = positions(columns, column_of.len());
    let spans: Vec<(usize, usize, usize)> = links
        .iter()
        .filter(|(a, b)| column_of[*a] != column_of[*b])
        .map(|&(a, b)| (column_of[a], pos[a], pos[b]))
        .collect();
    let mut n = 0;
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.0 == b.0 && ((a.1 < b.1 && a.2 > b.2) || (a.1 > b.1 && a.2 < b.2)) {
                n += 1;
            }
        }
    }
    n
}

fn positions(columns: &[Vec<usize>], n: usize) -> Vec<usize> {
    let mut pos = vec![0; n];
    for col in columns {
        for (p, &i) in col.iter().enumerate() {
            pos[i] = p;
        }
    }
    pos
}

/// Reorders one column by the mean position of each slot's neighbours in
/// the column before it (`left`) or after it; a slot without such
/// neighbours keeps its place as its key.
fn sweep_column(s: &mut Slots, c: usize, left: bool) {
    let pos = positions(&s.columns, s.column_of.len());
    let of = &s.column_of;
    let fixed = |o: usize| if left { of[o] + 1 == c } else { of[o] == c + 1 };
    let mut keyed: Vec<(f64, usize, usize)> = s.columns[c]
        .iter()
        .map(|&i| {
            let ns: Vec<usize> = s
                .links
                .iter()
                .filter_map(|&(a, b)| match (a == i, b == i) {
                    (true, _) => Some(b),
                    (_, true) => Some(a),
                    _ => None,
                })
                .filter(|&o| fixed(o))
                .collect();
            let key = if ns.is_empty() {
                pos[i] as f64
            } else {
                ns.iter().map(|&o| pos[o] as f64).sum::<f64>() / ns.len() as f64
            };
            (key, pos[i], i)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    s.columns[c] = keyed.into_iter().map(|k| k.2).collect();
}

/// The within-column order with the fewest crossings the sweeps found.
fn order(g: &Graph) -> Slots {
    let mut s = slots(g);
    let count = |s: &Slots| crossings(&s.links, &s.columns, &s.column_of);
    let mut best = (count(&s), s.columns.clone());
    for _ in 0..ROUNDS {
        if best.0 == 0 {
            break;
        }
        for c in 1..s.columns.len() {
            sweep_column(&mut s, c, true);
        }
        for c in (0..s.columns.len().saturating_sub(1)).rev() {
            sweep_column(&mut s, c, false);
        }
        let n = count(&s);
        if n < best.0 {
            best = (n, s.columns.clone());
        }
    }
    s.columns = best.1;
    s
}

/// The graph's nodes per column in the chosen order (no dummies), for
/// renderers that do their own geometry (DOT).
pub fn node_order(g: &Graph) -> Vec<Vec<usize>> {
    let s = order(g);
    let n = g.nodes.len();
    s.columns
        .iter()
        .map(|c| c.iter().copied().filter(|&i| i < n).collect())
        .collect()
}

/// The size of a node's box from its text.
fn size(lines: &[String]) -> (u32, u32) {
    let chars = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let w = (chars as u32 * CHAR_W + 2 * PAD).max(MIN_W);
    (w, lines.len() as u32 * LINE_H + PAD + 4)
}

/// Orders and places every slot: columns left to right, each column's
/// boxes stacked and centred on the tallest column; a dummy is a thin slot
/// as wide as its column.
pub fn place(g: &Graph) -> Layout {
    let s = order(g);
    let n = g.nodes.len();
    let sizes: Vec<(u32, u32)> = (0..s.column_of.len())
        .map(|i| {
            if i < n {
                size(&g.nodes[i].lines)
            } else {
                (0, DUMMY_H)
            }
        })
        .collect();
    let col_h = |col: &Vec<usize>| -> u32 {
        let boxes: u32 = col.iter().map(|&i| sizes[i].1).sum();
        boxes + ROW_GAP * (col.len() as u32).saturating_sub(1)
    };
    let tallest = s.columns.iter().map(col_h).max().unwrap_or(0);
    let mut boxes = vec![Rect::default(); sizes.len()];
    let mut column_x = Vec::new();
    let mut x = MARGIN;
    for col in &s.columns {
        let w = col
            .iter()
            .map(|&i| sizes[i].0)
            .max()
            .unwrap_or(0)
            .max(MIN_W);
        let mut y = TOP + (tallest - col_h(col)) / 2;
        for &i in col {
            let (bw, bh) = if i < n { sizes[i] } else { (w, DUMMY_H) };
            boxes[i] = Rect {
                x: x + (w - bw) / 2,
                y,
                w: bw,
                h: bh,
            };
            y += bh + ROW_GAP;
        }
        column_x.push((x, w));
        x += w + COL_GAP;
    }
    let width = if s.columns.is_empty() {
        2 * MARGIN
    } else {
        x - COL_GAP + MARGIN
    };
    Layout {
        columns: s.columns,
        column_of: s.column_of,
        boxes,
        routes: s.routes,
        links: s.links,
        column_x,
        width,
        height: TOP + tallest + MARGIN,
    }
}
