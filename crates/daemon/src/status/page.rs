//! The status page's HTML: a pure function of the caps report and the
//! last events. Everything inline (style, the SVG picture, a few lines of
//! script for the live events): the page loads nothing from anywhere.

use std::fmt::Write;

use netswitch_model::caps::Caps;
use serde_json::Value;

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px sans-serif;margin:1em 2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}\
th,td{border:1px solid #bbb;padding:3px 8px;text-align:left}\
th{background:#eee}#picture svg{max-width:100%;height:auto}\
#events{font:12px monospace;list-style:none;padding:0}\
#events li{border-bottom:1px solid #eee;padding:2px 0}";

/// Appends each new event to the list, newest first, 50 at most; and
/// after an event (a quarter second later, so a burst is one redraw)
/// fetches the picture and the table again and swaps them in. A redraw
/// asked for while one is in flight runs after it, so the last event is
/// always drawn. `data-redraws` on the body counts the redraws done.
const SCRIPT: &str = "const list=document.getElementById('events');\
let pending=null;\
function redraw(){pending=null;\
Promise.all([fetch('/caps.svg'),fetch('/networks')].map(p=>p.then(r=>r.text())))\
.then(function(t){const i=t[0].indexOf('<svg');\
if(i>=0){document.getElementById('picture').innerHTML=t[0].slice(i);}\
document.getElementById('table').innerHTML=t[1];\
document.body.dataset.redraws=String(Number(document.body.dataset.redraws||0)+1);})\
.catch(function(){});}\
const es=new EventSource('/events');\
es.onmessage=function(e){const li=document.createElement('li');\
li.textContent=e.data;li.className='live';list.prepend(li);\
while(list.children.length>50){list.lastChild.remove();}\
if(pending===null){pending=setTimeout(redraw,250);}};";

/// The page: the picture, the networks table, the last events.
pub(crate) fn render(caps: &Caps, svg: &str, events: &[Value]) -> String {
    let mut html = String::with_capacity(svg.len() + 8192);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<title>netswitch: host networks</title><style>");
    html.push_str(STYLE);
    html.push_str("</style></head><body><h1>Host networks</h1>");
    html.push_str("<h2>Picture</h2><div id=\"picture\">");
    // The SVG document without its XML declaration, inline.
    let svg = svg.find("<svg").map_or(svg, |i| &svg[i..]);
    html.push_str(svg);
    html.push_str("</div><h2>Networks</h2><div id=\"table\">");
    html.push_str(&table(caps));
    html.push_str("</div>");
    html.push_str("<h2>Last events</h2><ul id=\"events\">");
    for e in events.iter().rev() {
        let _ = write!(html, "<li>{}</li>", esc(&e.to_string()));
    }
    html.push_str("</ul><script>");
    html.push_str(SCRIPT);
    html.push_str("</script></body></html>\n");
    html
}

/// The networks table, alone: part of the page, and `GET /networks`.
pub(crate) fn table(caps: &Caps) -> String {
    let mut html = String::with_capacity(256 * (caps.networks.len() + 1));
    html.push_str("<table id=\"networks\"><thead><tr>");
    for h in [
        "network",
        "switch",
        "bridged",
        "iface",
        "southbound",
        "VLAN",
        "MTU",
        "address",
        "gateway",
    ] {
        let _ = write!(html, "<th>{h}</th>");
    }
    html.push_str("</tr></thead><tbody>");
    for (name, n) in &caps.networks {
        let addr = if n.ip.addr.is_empty() {
            String::new()
        } else {
            format!("{}/{}", n.ip.addr, n.ip.netmask)
        };
        let vlan = n.vlanid.map(|v| v.to_string()).unwrap_or_default();
        let cells = [
            name.as_str(),
            &n.switch,
            if n.bridged { "yes" } else { "no" },
            &n.iface,
            &n.southbound,
            &vlan,
            &n.ip.mtu,
            &addr,
            &n.ip.gateway,
        ];
        html.push_str("<tr>");
        for c in cells {
            let _ = write!(html, "<td>{}</td>", esc(c));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_nothing_is_loaded_from_elsewhere() {
        let mut caps = Caps::default();
        let net = netswitch_model::caps::NetReport {
            iface: "<b>".into(),
            ..Default::default()
        };
        caps.networks.insert("n&1".into(), net);
        let html = render(
            &caps,
            "<?xml?><svg></svg>",
            &[serde_json::json!({"e": "<x>"})],
        );
        assert!(html.contains("<td>n&amp;1</td>"));
        assert!(html.contains("<td>&lt;b&gt;</td>"));
        assert!(html.contains("&lt;x&gt;"));
        assert!(!html.contains("<?xml"));
        for external in ["src=", "href=", "@import", "url("] {
            assert!(!html.contains(external), "{external}");
        }
    }
}
