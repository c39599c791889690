//! Prints a snapshot as JSON: `cargo run -p netswitch-netinfo --example
//! snapshot -- [NETNS]`. With a namespace name, reads that namespace.

fn main() {
    if let Some(ns) = std::env::args().nth(1) {
        if let Err(e) = netswitch_netinfo::enter_netns(&ns) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    match netswitch_netinfo::snapshot() {
        Ok(state) => match serde_json::to_string_pretty(&state) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("{e}"),
        },
        Err(e) => {
            eprintln!("snapshot failed: {e}");
            std::process::exit(1);
        }
    }
}
