//! The command-line grammar. Doc comments here are the `--help` text.

#![expect(
    clippy::doc_markdown,
    reason = "doc comments here are --help text, shown as written"
)]

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

use crate::emulator::EmulatorArgs;
use crate::live::client::ApiVersion;
use crate::model::KeyRef;
use crate::plan::Share;

/// Pinecone API keys as code: declare keys in a manifest, review a plan, apply it.
///
/// keyplan lists the live keys of each project in the manifest through Pinecone's Admin API,
/// shows what would change, and on approval changes it. A new key's secret goes straight to the
/// secret store (OS keyring, a 0600 file, or a command) and is never printed.
#[derive(Debug, Parser)]
#[command(
    name = "keyplan",
    version = VERSION,
    after_long_help = crate::exit::ExitCode::table()
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// `keyplan --version`: the version and the commit it was built from (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KEYPLAN_COMMIT"),
    ")"
);

/// The help heading of the options that say how to reach the Admin API.
const CONNECTION: &str = "Connection options";

/// The connection options' ids: accepted by the commands that talk to the Admin API, neither
/// offered nor accepted by the others ([`OFFLINE`]).
const CONNECTION_ARGS: [&str; 7] = [
    "api_host",
    "oauth_url",
    "concurrency",
    "api_version",
    "allow_insecure_http",
    "sandbox",
    "sandbox_seed",
];

/// The commands that never talk to the Admin API.
const OFFLINE: [&str; 6] = [
    "validate",
    "show",
    "schema",
    "emulator",
    "completions",
    "man",
];

/// Options every command accepts (the connection options: every command that talks to the
/// Admin API).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The manifest.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = crate::manifest::DEFAULT_PATH
    )]
    pub file: PathBuf,
    /// Admin API base URL [env: PINECONE_CONTROLLER_HOST] [default: https://api.pinecone.io].
    #[arg(long, global = true, help_heading = CONNECTION)]
    pub api_host: Option<String>,
    /// OAuth token URL [env: PINECONE_OAUTH_URL] [default: https://login.pinecone.io/oauth/token].
    #[arg(long, global = true, help_heading = CONNECTION)]
    pub oauth_url: Option<String>,
    /// How many Admin API requests run at once (at least 1).
    #[arg(long, global = true, default_value_t = default_concurrency(), help_heading = CONNECTION)]
    pub concurrency: NonZeroUsize,
    /// The Admin API version to speak, sent as X-Pinecone-Api-Version: one keyplan is tested
    /// against.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "PINECONE_API_VERSION",
        value_name = "VERSION",
        default_value_t = ApiVersion::LATEST,
        help_heading = CONNECTION
    )]
    pub api_version: ApiVersion,
    /// DANGEROUS: allow sending credentials over plain http:// to a host that is not loopback.
    #[arg(long, global = true, help_heading = CONNECTION)]
    pub allow_insecure_http: bool,
    /// Run against keyplan's embedded emulator (state in .keyplan-sandbox.json beside the
    /// manifest) instead of Pinecone: no account needed.
    #[arg(long, global = true, help_heading = CONNECTION)]
    pub sandbox: bool,
    /// With --sandbox: on first use, fill the sandbox with these projects and pre-existing keys
    /// (an emulator seed file, TOML or JSON; see docs/emulator.md).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = CONNECTION
    )]
    pub sandbox_seed: Option<PathBuf>,
    /// No colour, even on a terminal (NO_COLOR is respected too).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Log each Admin API request to stderr (method, path, status, time, request id); twice for
    /// everything keyplan logs. KEYPLAN_LOG (e.g. keyplan=debug) overrides it. Never bodies,
    /// headers or secrets.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest offline; every error with file:line:column.
    Validate(ValidateArgs),
    /// Show what apply would change.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
    /// Plan, ask for approval, and change the live keys (or apply a saved plan file).
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(ApplyArgs),
    /// Render a saved plan file.
    Show(ShowArgs),
    /// Audit: report keys changed outside keyplan, missing keys and unmanaged keys.
    #[command(after_help = DRIFT_EXAMPLES)]
    Drift(DriftArgs),
    /// Audit report: every live key of the declared projects with its age, roles, rotation
    /// due date and policy status.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Write a manifest for the live keys to stdout.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import(ImportArgs),
    /// Print a JSON Schema: the manifest's (for taplo / Even Better TOML), or of a document
    /// keyplan writes (plan, drift, secrets-file).
    Schema(SchemaArgs),
    /// Read secrets back from the secret store.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Run the local Admin API emulator.
    Emulator(EmulatorArgs),
    /// Print a shell completion script to stdout (e.g. `keyplan completions bash >
    /// /etc/bash_completion.d/keyplan`).
    Completions(CompletionsArgs),
    /// Print keyplan's man page (roff) to stdout (e.g. `keyplan man > keyplan.1`).
    Man,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which document's schema.
    #[arg(value_enum, default_value_t = SchemaDocument::Manifest)]
    pub document: SchemaDocument,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaDocument {
    /// keyplan.toml.
    Manifest,
    /// `plan --format json`.
    Plan,
    /// `drift --format json`.
    Drift,
    /// The JSON secrets file of `store = "file"`.
    SecretsFile,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Output format: human, json (every diagnostic with file, line, column, message and
    /// hint) or github (one `::error` workflow command per diagnostic, shown on the pull
    /// request's lines).
    #[arg(long, value_enum, default_value_t = ValidateFormat::Human)]
    pub format: ValidateFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    Human,
    Json,
    Github,
}

/// Where a command writes a document that a failure replaces: which command, in which format,
/// for which `--title`. `None` for human output, and for commands that write no document.
#[derive(Debug, Clone)]
pub struct DocumentOutput {
    pub command: &'static str,
    pub format: Format,
    pub title: Option<String>,
}

impl Command {
    /// The document this command writes to stdout, if it writes one (`--format json` or
    /// `--format markdown`): a failure writes a failure document in its place.
    pub fn document_output(&self) -> Option<DocumentOutput> {
        let (command, format, title) = match self {
            Command::Plan(args) => ("plan", args.format, args.title.as_ref()),
            Command::Apply(args) => ("apply", args.format, args.title.as_ref()),
            Command::Drift(args) => ("drift", args.format, args.title.as_ref()),
            Command::Show(args) => ("show", args.format, None),
            Command::Validate(args) if args.format == ValidateFormat::Json => {
                ("validate", Format::Json, None)
            }
            _ => return None,
        };
        (format != Format::Human).then(|| DocumentOutput {
            command,
            format,
            title: title.cloned(),
        })
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const PLAN_EXAMPLES: &str = "\
Examples:
  keyplan plan                                   # what apply would change
  keyplan plan --project prod --format markdown  # one project, for a pull request
  keyplan plan --out keyplan.plan                # save it for `keyplan apply keyplan.plan`
  keyplan plan --replace prod/ingest             # rotate one key now
  keyplan plan --sandbox                         # against the built-in emulator";

const APPLY_EXAMPLES: &str = "\
Examples:
  keyplan apply                                  # plan, ask, apply
  keyplan apply keyplan.plan                     # apply a reviewed plan exactly (CI)
  keyplan apply --auto-approve --secrets-file secrets.json
  keyplan apply --replace prod/ingest            # rotate one key";

const DRIFT_EXAMPLES: &str = "\
Examples:
  keyplan drift                                  # exit 0 in sync, 2 drift found
  keyplan drift --format markdown >> \"$GITHUB_STEP_SUMMARY\"
  keyplan drift --project prod --format json";

const REPORT_EXAMPLES: &str = "\
Examples:
  keyplan report                                 # every live key, its age and policy status
  keyplan report --format markdown >> \"$GITHUB_STEP_SUMMARY\"
  keyplan report --project prod --format json";

const IMPORT_EXAMPLES: &str = "\
Examples:
  keyplan import > keyplan.toml                  # every project's keys
  keyplan import --project prod > keyplan.toml
  keyplan import --sandbox --sandbox-seed seed.toml";

/// The grammar as clap runs it: what is parsed, and what completions and the man page describe.
/// The connection options are global (they may come before the command's name), so clap adds
/// them to every command; the offline commands hide them.
pub fn command() -> clap::Command {
    let mut grammar = Cli::command();
    grammar.build();
    for name in OFFLINE {
        // `mut_args` keeps the arguments' order, which the built command's index relies on.
        grammar = grammar.mut_subcommand(name, |offline| {
            offline.mut_args(|arg| {
                let connection = CONNECTION_ARGS.contains(&arg.get_id().as_str());
                arg.hide(connection)
            })
        });
    }
    grammar
}

/// Parses `args` (the program's name first). A connection option given to an offline command
/// is a usage error: it would do nothing, and silently ignoring it hides a mistake.
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches as _;
    let mut grammar = command();
    let matches = grammar.try_get_matches_from_mut(args)?;
    if let Some((name, given)) = matches.subcommand()
        && OFFLINE.contains(&name)
        && let Some(id) = CONNECTION_ARGS
            .iter()
            .find(|id| given.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    {
        let flag = format!("--{}", id.replace('_', "-"));
        return Err(grammar.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!("{flag} does not apply to `keyplan {name}`, which does not use the Admin API"),
        ));
    }
    let cli = Cli::from_arg_matches(&matches)?;
    // Checked here rather than with clap's `requires`, which looks at one command level only:
    // `keyplan --sandbox plan --sandbox-seed FILE` gives the two at different levels.
    if cli.global.sandbox_seed.is_some() && !cli.global.sandbox {
        return Err(grammar.error(
            clap::error::ErrorKind::MissingRequiredArgument,
            "--sandbox-seed fills the sandbox, so it needs --sandbox",
        ));
    }
    Ok(cli)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Markdown,
}

/// Options that shape a plan: which projects, what to force.
#[derive(Debug, Args)]
pub struct PlanScope {
    /// Only these projects (name or id; repeatable). The rest is not looked at.
    #[arg(long = "project", value_name = "NAME_OR_ID")]
    pub projects: Vec<String>,
    /// Replace this key on demand (rotate), as PROJECT/KEY (repeatable).
    #[arg(long = "replace", value_name = "PROJECT/KEY")]
    pub replace: Vec<KeyRef>,
    /// Refuse a plan deleting more than this share of a project's keys (0.0 to 1.0).
    #[arg(long, default_value = "0.25")]
    pub max_delete_share: Share,
    /// Refuse a plan deleting more than this many keys in all.
    #[arg(long, default_value_t = 50)]
    pub max_deletes: usize,
    /// Proceed even when the safety guard refuses the plan.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub scope: PlanScope,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Save the plan to this file, for `keyplan apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The target this plan is for (e.g. "prod"): in the Markdown heading and its hidden
    /// marker `<!-- keyplan:plan title=... -->`, so a bot updates one comment per target.
    #[arg(long, value_name = "TEXT", value_parser = parse_title)]
    pub title: Option<String>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `keyplan plan --out`: applied exactly, without a prompt, if still current.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub scope: PlanScope,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format on stdout: human (the plan, then the report), json (one JSON object per
    /// line: each event, then a summary) or markdown (a result document for the pull request).
    /// Progress and the prompt go to stderr in every format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The target this apply is for (e.g. "prod"): in the Markdown heading and its hidden
    /// marker `<!-- keyplan:apply title=... -->`.
    #[arg(long, value_name = "TEXT", value_parser = parse_title)]
    pub title: Option<String>,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Keep a deleted key's stored secret instead of removing it.
    #[arg(long)]
    pub keep_deleted_secrets: bool,
}

/// Overrides of the manifest's `[secrets]` table.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Store new secrets in this file (JSON, mode 0600) instead of the manifest's store.
    #[arg(long, value_name = "PATH")]
    pub secrets_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan.
    pub plan_file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Only these projects (name or id; repeatable).
    #[arg(long = "project", value_name = "NAME_OR_ID")]
    pub projects: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The target this audit is for (e.g. "prod"): in the Markdown heading and its hidden
    /// marker `<!-- keyplan:drift title=... -->`.
    #[arg(long, value_name = "TEXT", value_parser = parse_title)]
    pub title: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only these projects (name or id; repeatable).
    #[arg(long = "project", value_name = "NAME_OR_ID")]
    pub projects: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Only these projects (name or id; repeatable). Default: every project.
    #[arg(long = "project", value_name = "NAME_OR_ID")]
    pub projects: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Print a stored secret to stdout (the one command that prints a secret, on request).
    #[command(mut_arg("secrets_file", |arg| arg.help(
        "Read the secret from this file (a JSON secrets file, as `apply --secrets-file` writes) \
         instead of the manifest's store"
    )))]
    Get(SecretGetArgs),
}

#[derive(Debug, Args)]
pub struct SecretGetArgs {
    /// The key, as PROJECT/KEY (project name or id).
    pub key: KeyRef,
    #[command(flatten)]
    pub store: StoreArgs,
}

// A value outside the list is a usage error at parse time (exit 64) that names the accepted
// versions, like every other closed choice on the command line.
impl ValueEnum for ApiVersion {
    fn value_variants<'a>() -> &'a [Self] {
        &ApiVersion::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

fn default_concurrency() -> NonZeroUsize {
    NonZeroUsize::new(crate::live::client::DEFAULT_CONCURRENCY).unwrap_or(NonZeroUsize::MIN)
}

/// A `--title`: one line of at most 100 characters, no control characters.
fn parse_title(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("the title is empty; give the target's name, e.g. --title prod".to_owned());
    }
    if text.chars().any(char::is_control) {
        return Err(
            "the title holds a control character (a newline?); use one plain line".to_owned(),
        );
    }
    if text.chars().count() > 100 {
        return Err("the title is longer than 100 characters".to_owned());
    }
    Ok(text.to_owned())
}
