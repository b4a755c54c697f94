//! `keyplan emulator`: the emulator as a process, configured from the command line. It announces
//! its address as one line (on stdout, so a caller that asked for port 0 can read it) and serves
//! until Ctrl-C or SIGTERM; failures come back as [`EmulatorCliError`] for the caller to report.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::config::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_LISTEN, EmulatorConfig, Faults, RateLimit,
    Seed,
};

/// Run a local server that speaks Pinecone's Admin API, for tests and trying keyplan out.
///
/// Point keyplan (or the official SDKs) at it with `PINECONE_CONTROLLER_HOST`, `PINECONE_OAUTH_URL`
/// (the printed address, plus /oauth/token) and the client id and secret below.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on; port 0 picks a free port (the address is printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Client id the token endpoint accepts.
    #[arg(long, value_name = "ID", default_value = DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// Client secret the token endpoint accepts.
    #[arg(long, value_name = "SECRET", default_value = DEFAULT_CLIENT_SECRET)]
    pub client_secret: String,
    /// Lifetime of an access token, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub token_ttl: u64,
    /// Keep projects and keys in this JSON file between runs (secrets only as hashes).
    #[arg(long = "state", value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Projects and keys to start with (JSON, or TOML if the name ends in .toml); used only
    /// when the state file does not exist yet.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Keys allowed per project; a create beyond it answers 403 `QUOTA_EXCEEDED`.
    #[arg(long, value_name = "N")]
    pub key_quota: Option<usize>,
    /// Behave like a Starter-plan organisation: keys only with `ProjectEditor`, no role changes.
    #[arg(long)]
    pub starter_plan: bool,
    /// Answer 500 instead of 404 to deleting a key that does not exist, as production does.
    #[arg(long)]
    pub delete_missing_500: bool,
    /// A role creates and updates accept beyond the six, as if Pinecone had added it
    /// (repeatable).
    #[arg(long = "extra-role", value_name = "NAME")]
    pub extra_roles: Vec<String>,
    /// Latency added to every request, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Share (0 to 1) of admin requests answered with a 500, 502, 503 or 504.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub error_rate: f64,
    /// Share (0 to 1) of admin requests answered 429 with Retry-After: 1.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub throttle_rate: f64,
    /// Share (0 to 1) of admin requests whose connection is closed without an answer.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub drop_rate: f64,
    /// Share (0 to 1) of creates that commit but whose answer is lost.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub lose_create_response_rate: f64,
    /// Admin requests per second allowed (token bucket); beyond it: 429 with Retry-After.
    #[arg(long, value_name = "RPS", value_parser = parse_rps)]
    pub rate_limit: Option<f64>,
    /// Burst size of the rate limit (default: the rate, rounded up).
    #[arg(long, value_name = "N", requires = "rate_limit")]
    pub rate_limit_burst: Option<u32>,
    /// Seed of the random faults: the same seed and request order give the same faults.
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub fault_seed: u64,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not between 0 and 1"))
    }
}

fn parse_rps(text: &str) -> Result<f64, String> {
    let rps: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if rps > 0.0 && rps.is_finite() {
        Ok(rps)
    } else {
        Err(format!(
            "{rps} must be a positive number of requests per second"
        ))
    }
}

impl EmulatorArgs {
    /// The configuration these arguments describe; reads the seed file.
    pub fn to_config(&self) -> std::io::Result<EmulatorConfig> {
        let seed = self.seed.as_deref().map(Seed::load).transpose()?;
        let rate_limit = self.rate_limit.map(|per_second| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a positive rate, clamped to u32"
            )]
            let default_burst = per_second.ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
            RateLimit {
                per_second,
                burst: self.rate_limit_burst.unwrap_or(default_burst),
            }
        });
        Ok(EmulatorConfig {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            token_ttl: Duration::from_secs(self.token_ttl),
            key_quota: self.key_quota,
            starter_plan: self.starter_plan,
            delete_missing_500: self.delete_missing_500,
            extra_roles: self.extra_roles.clone(),
            faults: Faults {
                latency: Duration::from_millis(self.latency_ms),
                seed: self.fault_seed,
                error_rate: self.error_rate,
                throttle_rate: self.throttle_rate,
                drop_rate: self.drop_rate,
                lose_create_response_rate: self.lose_create_response_rate,
                rate_limit,
            },
            state_file: self.state.clone(),
            seed,
        })
    }
}

/// Where [`serve_cli`] reports while it serves; it never writes to the process's streams itself.
pub trait EmulatorOutput {
    /// The line with the address: a parent process reads it from stdout and waits for it, so it
    /// must reach stdout at once, not sit in a buffer.
    fn address(&mut self, line: &str);
    /// A note for the person who started it (stderr).
    fn note(&mut self, line: &str);
}

/// Why `keyplan emulator` could not serve.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorCliError {
    /// The configuration the flags name could not be read (the seed file).
    #[error("failed to start the emulator")]
    Config(#[source] std::io::Error),
    /// The server did not start: the address could not be bound, or the state or seed could not
    /// be read.
    #[error("failed to start the emulator on {listen}")]
    Start {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl EmulatorCliError {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            EmulatorCliError::Config(_) => None,
            EmulatorCliError::Start { .. } => {
                Some("pick another address with --listen (port 0 picks a free one)")
            }
        }
    }
}

/// Runs the emulator until Ctrl-C or SIGTERM, announcing its address through `out`.
pub async fn serve_cli(
    args: EmulatorArgs,
    out: &mut (dyn EmulatorOutput + Send),
) -> Result<(), EmulatorCliError> {
    let config = args.to_config().map_err(EmulatorCliError::Config)?;
    let emulator =
        super::start(config, args.listen)
            .await
            .map_err(|source| EmulatorCliError::Start {
                listen: args.listen,
                source,
            })?;
    let base = emulator.base_url();
    out.address(&format!("keyplan emulator listening on {base}"));
    out.note(&format!(
        "use: PINECONE_CONTROLLER_HOST={base} PINECONE_OAUTH_URL={} PINECONE_CLIENT_ID={} PINECONE_CLIENT_SECRET=<--client-secret>",
        emulator.oauth_url(),
        args.client_id
    ));
    wait_for_signal().await;
    emulator.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    fn parse(args: &[&str]) -> Result<EmulatorArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("emulator").chain(args.iter().copied()))
            .map(|cli| cli.args)
    }

    #[test]
    fn flags_become_the_configuration() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--client-id",
            "id",
            "--key-quota",
            "3",
            "--starter-plan",
            "--delete-missing-500",
            "--extra-role",
            "IndexAdmin",
            "--extra-role",
            "Auditor",
            "--latency-ms",
            "20",
            "--error-rate",
            "0.5",
            "--throttle-rate",
            "0.25",
            "--drop-rate",
            "0.1",
            "--lose-create-response-rate",
            "1",
            "--rate-limit",
            "2.5",
            "--fault-seed",
            "9",
            "--token-ttl",
            "60",
        ])
        .unwrap();
        let config = args.to_config().unwrap();
        assert_eq!(config.client_id, "id");
        assert_eq!(config.client_secret, DEFAULT_CLIENT_SECRET);
        assert_eq!(config.key_quota, Some(3));
        assert!(config.starter_plan);
        assert!(config.delete_missing_500);
        assert_eq!(config.extra_roles, ["IndexAdmin", "Auditor"]);
        assert_eq!(config.token_ttl, Duration::from_secs(60));
        let expected = Faults {
            latency: Duration::from_millis(20),
            seed: 9,
            error_rate: 0.5,
            throttle_rate: 0.25,
            drop_rate: 0.1,
            lose_create_response_rate: 1.0,
            rate_limit: Some(RateLimit {
                per_second: 2.5,
                burst: 3,
            }),
        };
        assert_eq!(config.faults, expected);
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = parse(&[]).unwrap().to_config().unwrap();
        let default = EmulatorConfig::default();
        assert_eq!(config.client_id, default.client_id);
        assert_eq!(config.token_ttl, default.token_ttl);
        assert_eq!(config.faults, Faults::default());
        assert_eq!(parse(&[]).unwrap().listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn out_of_range_knobs_are_usage_errors() {
        assert!(parse(&["--error-rate", "1.5"]).is_err());
        assert!(parse(&["--drop-rate", "-0.1"]).is_err());
        assert!(parse(&["--rate-limit", "0"]).is_err());
        assert!(
            parse(&["--rate-limit-burst", "4"]).is_err(),
            "needs --rate-limit"
        );
        let missing = parse(&["--seed", "/nonexistent/seed.json"])
            .unwrap()
            .to_config();
        assert!(missing.is_err_and(|e| e.to_string().contains("seed")));
    }

    /// Collects what would have been printed.
    #[derive(Default)]
    struct Collected(Vec<String>);

    impl EmulatorOutput for Collected {
        fn address(&mut self, line: &str) {
            self.0.push(line.to_owned());
        }

        fn note(&mut self, line: &str) {
            self.0.push(line.to_owned());
        }
    }

    #[tokio::test]
    async fn failures_come_back_typed_with_a_hint_where_one_helps() {
        let mut out = Collected::default();
        let args = parse(&["--seed", "/nonexistent/seed.json"]).unwrap();
        let err = serve_cli(args, &mut out).await.unwrap_err();
        assert!(matches!(err, EmulatorCliError::Config(_)), "{err:?}");
        assert_eq!(err.to_string(), "failed to start the emulator");
        assert_eq!(err.hint(), None);

        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listen = taken.local_addr().unwrap().to_string();
        let err = serve_cli(parse(&["--listen", &listen]).unwrap(), &mut out)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to start the emulator on {listen}")
        );
        assert!(std::error::Error::source(&err).is_some());
        assert!(err.hint().is_some_and(|hint| hint.contains("--listen")));
        assert!(out.0.is_empty(), "{:?}", out.0);
    }
}
