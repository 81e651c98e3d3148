//! Singleton ownership across processes: kill -9 of the owner (taken over, a larger token),
//! SIGSTOP past the lease (the old owner, resumed, is fenced out and stops); with the output in
//! a fenced Redis stream, the resumed old owner's next append is refused in Redis and the
//! stream holds no entry of the old token after the new token's first.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;

fn spawn(url: &str) -> (Child, Receiver<String>) {
    spawn_with(url, &[])
}

fn spawn_with(url: &str, extra: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdp-singleton"))
        .args([
            "--url",
            url,
            "--pipeline",
            "bars",
            "--ttl-ms",
            "600",
            "--seconds",
            "60",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn mdp-singleton");
    let rx = common::stdout_lines(&mut child);
    (child, rx)
}

/// The next line starting with `prefix` (bounded: 30 s).
fn expect(rx: &Receiver<String>, prefix: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {prefix:?} line in 30 s"));
        if line.starts_with(prefix) {
            return line;
        }
    }
}

fn token(line: &str) -> u64 {
    common::field(line, "token")
}

fn signal(child: &Child, sig: &str) {
    Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
}

#[test]
fn a_killed_owner_is_replaced_and_a_stopped_one_is_fenced_out() {
    let Some(server) = common::Server::start("singleton") else {
        return;
    };
    let url = server.url();
    let (mut a, ra) = spawn(&url);
    let t1 = token(&expect(&ra, "acquired"));
    let (mut b, rb) = spawn(&url);
    // kill -9 the owner: B takes over with a larger token.
    a.kill().unwrap();
    a.wait().unwrap();
    let t2 = token(&expect(&rb, "acquired"));
    assert!(t2 > t1);
    // SIGSTOP B past its lease: C takes over; B, resumed, is fenced out and stops.
    let (mut c, rc) = spawn(&url);
    signal(&b, "-STOP");
    let t3 = token(&expect(&rc, "acquired"));
    assert!(t3 > t2);
    signal(&b, "-CONT");
    assert_eq!(token(&expect(&rb, "lost")), t2);
    let owner = server.cli(&["HGET", "mdp:owner:bars", "token"]).unwrap();
    assert_eq!(owner.parse::<u64>().unwrap(), t3);
    for p in [&mut b, &mut c] {
        p.kill().unwrap();
        p.wait().unwrap();
    }
}

#[test]
fn a_resumed_stale_owners_next_append_is_refused_and_never_follows_the_new_owners() {
    let Some(server) = common::Server::start("singleton_fence") else {
        return;
    };
    let url = server.url();
    // --fence-only: the old owner keeps writing after its lease says lost, so only the
    // fence can stop it.
    let args = ["--stream", "desk:out", "--fence-only", "1"];
    let (mut a, ra) = spawn_with(&url, &args);
    let t1 = token(&expect(&ra, "acquired"));
    common::eventually("the first owner appends", || {
        common::entry_tokens(&url, "desk:out").contains(&t1)
    });
    let (mut b, rb) = spawn_with(&url, &args);
    signal(&a, "-STOP");
    let t2 = token(&expect(&rb, "acquired"));
    assert!(t2 > t1);
    common::eventually("the new owner appends", || {
        common::entry_tokens(&url, "desk:out").contains(&t2)
    });
    signal(&a, "-CONT");
    let refused = expect(&ra, "refused");
    eprintln!("{refused}");
    assert_eq!(token(&refused), t1, "{refused}");
    assert!(
        refused.contains("fenced out") && refused.contains(&format!("lease token ({t2})")),
        "{refused}"
    );
    // The new owner carries on; in the stream, no entry of t1 after the first of t2.
    let before = common::entry_tokens(&url, "desk:out").len();
    common::eventually("the new owner keeps appending", || {
        common::entry_tokens(&url, "desk:out").len() > before + 5
    });
    let tokens = common::entry_tokens(&url, "desk:out");
    let first_new = tokens.iter().position(|&t| t == t2).expect("t2 entries");
    assert!(tokens[..first_new].iter().all(|&t| t == t1), "{tokens:?}");
    assert!(
        tokens[first_new..].iter().all(|&t| t == t2),
        "an entry of the old token after the new owner's first: {tokens:?}"
    );
    eprintln!(
        "fenced stream: {first_new} entries of token {t1}, then {} of token {t2}; the old \
         owner's resumed append refused",
        tokens.len() - first_new
    );
    for p in [&mut a, &mut b] {
        p.kill().unwrap();
        p.wait().unwrap();
    }
}
