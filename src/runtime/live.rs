//! Live changes and monitoring: `update_settings` and `snapshot`.

use std::sync::Arc;

use crate::error::ConfigError;
use crate::metrics::Scrape;
use crate::router::RoutingStrategy;
use crate::runtime::error::RuntimeError;
use crate::runtime::settings::PipelineRuntimeSettings;
use crate::runtime::snapshot::{ProviderHealth, RuntimeSnapshot};
use crate::runtime::{check_sources, PipelineRuntime, RuntimeShared, Versioned};

impl PipelineRuntime {
    /// Validate `new`, then apply it while pipelines run, without restarting them: provider
    /// budgets and breaker settings change in place (tokens held and breaker states are
    /// kept; every source of a pipeline, routed or not, polls through its provider's
    /// [`AdmissionGate`](crate::admission::AdmissionGate), so its one breaker is its
    /// provider's), the routers of multi-source pipelines take the new strategy, hold-down and
    /// staleness, new providers are registered, rate coordination is switched (every gate of
    /// every pipeline, routed or not, reads the switch at its next admission), and the settings
    /// object is swapped (readers see the old or the new one, never a mix). Running pipelines
    /// see a new budget from their next chunk.
    ///
    /// Source parameters, pipeline defaults and `max_concurrent_pipelines` apply to pipelines
    /// started afterwards. `workers` is fixed when the runtime starts.
    ///
    /// # Errors
    /// Invalid settings, by field path, and a `workers` count other than the running one.
    /// Nothing is changed when an error is returned.
    pub fn update_settings(&self, new: PipelineRuntimeSettings) -> Result<u64, RuntimeError> {
        new.validate()?;
        let running = self.inner.workers.workers();
        if new.workers != running {
            return Err(ConfigError::new(
                "workers",
                format!(
                    "{} requested, but the runtime runs {running} workers, fixed at start",
                    new.workers
                ),
            )
            .into());
        }
        if new.metrics_addr != self.settings().metrics_addr {
            return Err(ConfigError::new(
                "metrics_addr",
                "fixed when the runtime starts (the metrics server is not moved live)",
            )
            .into());
        }
        check_sources(&self.inner.registry, &new)?;
        let coordinator = &self.inner.coordinator;
        let table = self.inner.table();
        // Routers of running pipelines: the new config of each, checked before anything is
        // applied. Arbitrate needs feeds of one sequenced stream.
        let mut reroutes = Vec::new();
        for (key, entry) in table.iter() {
            let Some(control) = &entry.routed.router else {
                continue;
            };
            let current = control.config();
            let next = new.router_config(current.clone());
            if next.strategy == RoutingStrategy::Arbitrate && !entry.routed.shared_sequence {
                return Err(ConfigError::new(
                    "routing_strategy",
                    format!(
                        "arbitrate needs feeds of one sequenced stream; pipeline {key} routes \
                         sources that do not declare shared_sequence"
                    ),
                )
                .into());
            }
            if next != current {
                next.validate()?;
                reroutes.push((control.clone(), next));
            }
        }
        // Check every provider's limits first, so that a refusal leaves nothing half-applied.
        let mut updates = Vec::new();
        for name in new.providers.keys() {
            if let Some(limits) = new.provider_limits(name) {
                limits.validate(name)?;
                updates.push((name, limits));
            }
        }
        for (name, limits) in updates {
            match coordinator.handle(name) {
                Ok(h) => h.update_limits(&limits)?,
                Err(_) => {
                    coordinator.register_provider_with(name, limits)?;
                }
            }
        }
        for (control, next) in reroutes {
            control.set_config(next)?;
        }
        drop(table);
        self.inner.switch.set(new.enable_rate_coordination);
        let mut version = 0;
        let new = Arc::new(new);
        self.inner.settings.rcu(|cur| {
            version = cur.version + 1;
            Versioned {
                version,
                settings: new.clone(),
            }
        });
        tracing::info!(
            target: "market_data_pipeline::runtime",
            version,
            "settings swapped"
        );
        Ok(version)
    }

    /// The version of the settings in force (0 at start, +1 per `update_settings`).
    pub fn settings_version(&self) -> u64 {
        self.inner.settings.load().version
    }

    /// Provider health (budget, breaker state and transitions, cooldowns, refusals) and every
    /// pipeline's counters and latency percentiles.
    pub fn snapshot(&self) -> RuntimeSnapshot {
        self.inner.snapshot()
    }
}

impl RuntimeShared {
    /// See [`PipelineRuntime::snapshot`].
    pub(crate) fn snapshot(&self) -> RuntimeSnapshot {
        self.scrape(false).snapshot
    }

    /// The snapshot and, when `with_latency`, each pipeline's latency buckets, the pipelines
    /// read under one lock of the table (so the two lists match).
    pub(crate) fn scrape(&self, with_latency: bool) -> Scrape {
        let current = self.settings.load_full();
        let providers = current
            .settings
            .providers
            .iter()
            .filter_map(|(name, p)| {
                let state = self.coordinator.provider_state(name).ok()?;
                Some(ProviderHealth {
                    name: name.clone(),
                    kind: p.source.kind.clone(),
                    request_based: p.request_based,
                    state,
                })
            })
            .collect();
        let (pipelines, latency) = {
            let table = self.table();
            let pipelines = table.iter().map(|(k, e)| e.info(k)).collect();
            let latency = if with_latency {
                table
                    .values()
                    .map(|e| e.latency_buckets(&crate::metrics::LATENCY_BOUNDS_NS))
                    .collect()
            } else {
                Vec::new()
            };
            (pipelines, latency)
        };
        Scrape {
            snapshot: RuntimeSnapshot {
                settings_version: current.version,
                routing_strategy: current.settings.routing_strategy,
                providers,
                pipelines,
            },
            latency,
        }
    }
}
