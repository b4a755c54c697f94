//! The per-request overhead: how much each request costs beyond the injected latency, for
//! keyplan's HTTP client in-process, `keyplan plan --concurrency 1` and the SDK script. A cost
//! near 40 ms at 1 ms latency would be Nagle's algorithm meeting delayed ACKs.

use std::time::{Duration, Instant};

use keyplan::emulator::{EmulatorConfig, Faults};
use keyplan::live::AdminApi;
use keyplan::live::client::{ClientConfig, Credentials, HttpAdminApi};
use keyplan::model::Secret;

use crate::report::ms;
use crate::world::World;
use crate::{Bench, Result};

impl Bench<'_> {
    /// Per-request cost against the injected latency at 0 and 1 ms: the in-process client,
    /// keyplan plan at concurrency 1, and the SDK. A cost near 40 ms is Nagle plus delayed ACK.
    pub fn per_request_overhead(&mut self, world: &World) -> Result<()> {
        let project = world
            .org
            .projects
            .first()
            .ok_or("the organisation has no project")?
            .id
            .clone();
        let mut config = ClientConfig::new(Credentials::ClientCredentials {
            client_id: EmulatorConfig::default().client_id,
            client_secret: Secret::new(EmulatorConfig::default().client_secret),
        });
        config.api_host = world.emu.base_url();
        config.oauth_url = world.emu.oauth_url();
        let api = HttpAdminApi::new(config).map_err(|e| format!("client: {e}"))?;
        let sequential = 200_u32;
        println!("\n## Per-request cost against the injected latency (the overhead beyond it)\n");
        println!("| client | latency | per request | overhead |\n|---|---|---|---|");
        let mut at_1ms = Duration::ZERO;
        for latency_ms in [0_u64, 1] {
            let latency = Duration::from_millis(latency_ms);
            world.emu.set_faults(Faults {
                latency,
                ..Faults::default()
            });
            let elapsed = self.rt.block_on(async {
                api.list_projects().await.map_err(|e| e.to_string())?;
                let t = Instant::now();
                for _ in 0..sequential {
                    api.list_keys(&project).await.map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(t.elapsed())
            })?;
            let each = elapsed / sequential;
            if latency_ms == 1 {
                at_1ms = each;
            }
            println!(
                "| keyplan's HTTP client, {sequential} sequential listings | {latency_ms} ms | {} | {} |",
                ms(each),
                ms(each.saturating_sub(latency))
            );
        }
        let latency = Duration::from_millis(1);
        let plan = self.plan_once(world, Some(1))?;
        let requests = u32::try_from(plan.counters.total.max(1)).unwrap_or(u32::MAX);
        println!(
            "| `keyplan plan --concurrency 1` ({} requests, process start included) | 1 ms | {} | {} |",
            requests,
            ms(plan.wall / requests),
            ms((plan.wall / requests).saturating_sub(latency))
        );
        if let Some((sdk, list_seconds, _)) = self.sdk_once(world)? {
            let requests = u32::try_from(sdk.counters.total.max(1)).unwrap_or(u32::MAX);
            let each = Duration::from_secs_f64(list_seconds) / requests;
            println!(
                "| the Python SDK, sequential ({requests} requests, interpreter start excluded) | 1 ms | {} | {} |",
                ms(each),
                ms(each.saturating_sub(latency))
            );
        }
        let ok = at_1ms < Duration::from_millis(5);
        println!(
            "\nPer-request overhead check: {} ({} per request at 1 ms latency; ~41 ms would mean Nagle and \
             delayed ACK)",
            if ok { "ok" } else { "SUSPECT" },
            ms(at_1ms)
        );
        self.verdict(
            true,
            ok,
            &format!(
                "sequential requests at 1 ms latency cost ~1 ms, not ~40 ms (no Nagle/delayed-ACK stall): {} each",
                ms(at_1ms)
            ),
        );
        world.set_faults(None);
        Ok(())
    }
}
