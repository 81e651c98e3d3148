//! `[coordination]` in `mdp run --config`: the runtime's provider budgets and cooldowns (and
//! the breakers it names in `breakers`) shared with every other runtime on the same Redis and
//! key prefix (the `mdp-redis` crate). Linking that crate also registers the `redis_stream`
//! source kind.

use anyhow::{Context, Result};
use market_data_pipeline::runtime::PipelineRuntime;
use std::time::{SystemTime, UNIX_EPOCH};

use market_data_pipeline::runtime::PipelineSpec;
use mdp_redis::{Coordination, CoordinationConfig, SingletonEvent, Singletons};

/// Start coordination when the settings have a `[coordination]` section, sharing every
/// provider it names (all of them when it names none). `None` without the section.
pub(crate) fn attach(runtime: &PipelineRuntime) -> Result<Option<Coordination>> {
    let Some(text) = runtime.settings().coordination.clone() else {
        return Ok(None);
    };
    let config = CoordinationConfig::from_toml(&text)?;
    let coordinator = runtime.coordinator();
    let names: Vec<String> = if config.providers.is_empty() {
        coordinator.providers()
    } else {
        config.providers.clone()
    };
    let config_breakers = config.breakers.clone();
    let coordination = Coordination::start(config)?;
    for name in &names {
        let handle = coordinator
            .handle(name)
            .with_context(|| format!("coordination.providers: {name}"))?;
        coordination.share(&handle)?;
    }
    for name in &config_breakers {
        let handle = coordinator
            .handle(name)
            .with_context(|| format!("coordination.breakers: {name}"))?;
        coordination.share_breaker(&handle)?;
    }
    eprintln!(
        "coordination: member {} shares {} through Redis{}",
        coordination.member(),
        names.join(", "),
        if config_breakers.is_empty() {
            String::new()
        } else {
            format!(" (breakers: {})", config_breakers.join(", "))
        }
    );
    Ok(Some(coordination))
}

/// One line per shared provider: degraded or not, lease, round trips, members.
pub(crate) fn status_line(runtime: &PipelineRuntime) -> String {
    let coordinator = runtime.coordinator();
    let mut line = String::new();
    for name in coordinator.providers() {
        if let Some(s) = coordinator
            .provider_state(&name)
            .ok()
            .and_then(|s| s.shared)
        {
            line += &format!(
                "  {name}: {} lease {} rt {} members {}",
                if s.degraded { "DEGRADED" } else { "shared" },
                s.lease_size,
                s.round_trips,
                s.members
            );
        }
    }
    line
}

/// The singleton pipelines among `specs`, owned through Redis as this coordination's member;
/// `None` without `[coordination]` (a singleton then simply runs here: this is the only host).
pub(crate) fn singletons(
    runtime: &PipelineRuntime,
    coordination: Option<&Coordination>,
    specs: &[PipelineSpec],
) -> Result<Option<Singletons>> {
    let (Some(text), Some(coordination)) = (runtime.settings().coordination.clone(), coordination)
    else {
        return Ok(None);
    };
    let config = CoordinationConfig::from_toml(&text)?;
    let s = Singletons::new(&config, coordination.member(), specs)?;
    Ok(Some(s))
}

/// One line on stderr per singleton start or stop (with the wall clock, for the takeover
/// measurements in PERF.md §12).
pub(crate) fn report(events: &[SingletonEvent]) {
    let ns = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    };
    for e in events {
        match e {
            SingletonEvent::Started { key, token } => {
                eprintln!("\nsingleton {key}: acquired token={token} unix_ns={}", ns());
            }
            SingletonEvent::Stopped {
                key,
                token,
                delivered,
            } => eprintln!(
                "\nsingleton {key}: lost token={token} delivered={delivered} unix_ns={}",
                ns()
            ),
            SingletonEvent::Failed { key, error } => {
                eprintln!("\nsingleton {key}: acquired but not started: {error}");
            }
        }
    }
}
