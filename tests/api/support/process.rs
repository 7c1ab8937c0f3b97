//! Processes a test starts: the `todoql` binary built with the tests, Node
//! scripts of `tests/js`, and the free ports they listen on.

/// The `todoql` binary cargo built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_todoql");

/// A port free on 127.0.0.1 right now (for a server started afterwards).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The command to run a Node script of `tests/js` (one npm project with
/// every Node tool the tests use; `scripts/test.sh` runs `npm ci` there),
/// such as `audit.mjs` or `clients/apollo.mjs`, from that folder.
pub fn node_script(script: &str) -> tokio::process::Command {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(format!("{dir}/{script}")).current_dir(dir);
    cmd
}
