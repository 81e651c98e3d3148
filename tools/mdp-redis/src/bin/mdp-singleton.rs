//! `mdp-singleton`: one host competing for a singleton pipeline (tests and demo).
//!
//! ```text
//! mdp-singleton --url URL --pipeline NAME [--prefix mdp] [--ttl-ms 1000] [--seconds 10]
//! ```
//!
//! Prints `acquired token=T unix_ns=…` when it becomes the owner (and "runs" the pipeline: a
//! counter), `running token=T` every 100 ms while it owns it, and `lost token=T unix_ns=…`
//! when it is fenced out or cut off for a whole lease (it stops the pipeline then).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mdp_redis::owner::{OwnerEvent, Ownership};

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn main() {
    let mut url = None;
    let (mut pipeline, mut prefix, mut ttl_ms, mut seconds) =
        ("p".to_string(), "mdp".to_string(), 1000u64, 10u64);
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--url" => url = Some(v),
            "--pipeline" => pipeline = v,
            "--prefix" => prefix = v,
            "--ttl-ms" => ttl_ms = v.parse().unwrap_or(ttl_ms),
            "--seconds" => seconds = v.parse().unwrap_or(seconds),
            _ => {
                eprintln!("mdp-singleton: unexpected argument {k:?}");
                std::process::exit(2);
            }
        }
    }
    let Some(url) = url else {
        eprintln!("mdp-singleton: --url is required");
        std::process::exit(2);
    };
    let member = format!("pid-{}", std::process::id());
    let mut own = match Ownership::new(
        &url,
        &prefix,
        &pipeline,
        &member,
        Duration::from_millis(ttl_ms),
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mdp-singleton: {e}");
            std::process::exit(2);
        }
    };
    println!("member {member}");
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut next_report = Instant::now();
    while Instant::now() < end {
        match own.poll() {
            OwnerEvent::Acquired(t) => println!("acquired token={t} unix_ns={}", unix_ns()),
            OwnerEvent::Lost(t) => println!("lost token={t} unix_ns={}", unix_ns()),
            OwnerEvent::Unchanged => {}
        }
        if let Some(t) = own.token() {
            if Instant::now() >= next_report {
                next_report = Instant::now() + Duration::from_millis(100);
                println!("running token={t}");
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    own.release();
    println!("done");
}
