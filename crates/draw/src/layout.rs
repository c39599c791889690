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

/// The placed graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Node indices per column, top to bottom.
    pub columns: Vec<Vec<usize>>,
    /// The column of every node.
    pub column_of: Vec<usize>,
    /// The box of every node.
    pub boxes: Vec<Rect>,
    /// The left edge and width of every column.
    pub column_x: Vec<(u32, u32)>,
    /// The extent of the drawing (without the legend).
    pub width: u32,
    pub height: u32,
}

/// Columns (layers in use, left to right) in the start order: the graph's
/// own, which is the report's sorted order within each kind.
fn initial_columns(g: &Graph) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut used: Vec<usize> = g.nodes.iter().map(|n| n.kind.layer()).collect();
    used.sort_unstable();
    used.dedup();
    let mut columns = vec![Vec::new(); used.len()];
    let mut column_of = vec![0; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        let c = used.binary_search(&n.kind.layer()).unwrap_or(0);
        columns[c].push(i);
        column_of[i] = c;
    }
    (columns, column_of)
}

/// Pairs of edges that cross, counting edges between the same two columns
/// (an edge that skips columns is compared with the others that skip the
/// same ones).
pub fn crossings(g: &Graph, columns: &[Vec<usize>], column_of: &[usize]) -> usize {
    let pos = positions(columns, g.nodes.len());
    let spans: Vec<(usize, usize, usize, usize)> = g
        .edges
        .iter()
        .map(|e| {
            let (a, b) = if column_of[e.from] <= column_of[e.to] {
                (e.from, e.to)
            } else {
                (e.to, e.from)
            };
            (column_of[a], column_of[b], pos[a], pos[b])
        })
        .filter(|s| s.0 != s.1)
        .collect();
    let mut n = 0;
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            let same = a.0 == b.0 && a.1 == b.1;
            if same && ((a.2 < b.2 && a.3 > b.3) || (a.2 > b.2 && a.3 < b.3)) {
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

/// Reorders one column by the mean position of each node's neighbours in
/// the columns `fixed` accepts; a node without such neighbours keeps its
/// place as its key.
fn sweep_column(g: &Graph, cols: &mut [Vec<usize>], of: &[usize], c: usize, left: bool) {
    let pos = positions(cols, g.nodes.len());
    let fixed = |other: usize| if left { of[other] < c } else { of[other] > c };
    let mut keyed: Vec<(f64, usize, usize)> = cols[c]
        .iter()
        .map(|&i| {
            let ns: Vec<usize> = g
                .edges
                .iter()
                .filter_map(|e| match (e.from == i, e.to == i) {
                    (true, _) => Some(e.to),
                    (_, true) => Some(e.from),
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
    cols[c] = keyed.into_iter().map(|k| k.2).collect();
}

/// The within-column order with the fewest crossings the sweeps found.
pub fn order(g: &Graph) -> (Vec<Vec<usize>>, Vec<usize>) {
    let (mut cols, of) = initial_columns(g);
    let mut best = (crossings(g, &cols, &of), cols.clone());
    for _ in 0..ROUNDS {
        if best.0 == 0 {
            break;
        }
        for c in 1..cols.len() {
            sweep_column(g, &mut cols, &of, c, true);
        }
        for c in (0..cols.len().saturating_sub(1)).rev() {
            sweep_column(g, &mut cols, &of, c, false);
        }
        let n = crossings(g, &cols, &of);
        if n < best.0 {
            best = (n, cols.clone());
        }
    }
    (best.1, of)
}

/// The size of a node's box from its text.
fn size(lines: &[String]) -> (u32, u32) {
    let chars = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let w = (chars as u32 * CHAR_W + 2 * PAD).max(MIN_W);
    (w, lines.len() as u32 * LINE_H + PAD + 4)
}

/// Orders and places every node: columns left to right, each column's
/// boxes stacked and centred on the tallest column.
pub fn place(g: &Graph) -> Layout {
    let (columns, column_of) = order(g);
    let sizes: Vec<(u32, u32)> = g.nodes.iter().map(|n| size(&n.lines)).collect();
    let col_h = |col: &Vec<usize>| -> u32 {
        let boxes: u32 = col.iter().map(|&i| sizes[i].1).sum();
        boxes + ROW_GAP * (col.len() as u32).saturating_sub(1)
    };
    let tallest = columns.iter().map(col_h).max().unwrap_or(0);
    let mut boxes = vec![Rect::default(); g.nodes.len()];
    let mut column_x = Vec::new();
    let mut x = MARGIN;
    for col in &columns {
        let w = col.iter().map(|&i| sizes[i].0).max().unwrap_or(MIN_W);
        let mut y = TOP + (tallest - col_h(col)) / 2;
        for &i in col {
            let (bw, bh) = sizes[i];
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
    let width = if columns.is_empty() {
        2 * MARGIN
    } else {
        x - COL_GAP + MARGIN
    };
    Layout {
        columns,
        column_of,
        boxes,
        column_x,
        width,
        height: TOP + tallest + MARGIN,
    }
}
