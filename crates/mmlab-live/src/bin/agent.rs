//! `mmlab-agent FD`: a scenario process for the live backend's own tests (the `mmlab` command
//! runs the same code as `mmlab __agent FD`).

fn main() {
    let fd = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: mmlab-agent FD (started by the mmlab live backend, not by hand)");
            std::process::exit(2)
        });
    mmlab_live::agent::main(fd)
}
