//! The command line: every command, its arguments and its help text.

use clap::{Args, Parser, Subcommand};
use core_models::rules::Audience;
use core_models::{
    Cooldown, EventRoute, EventType, MaxQueueSize, Priority, QueueReason, QueueStatus, ServiceKind,
    Setting, Slug, StreakPolicy, Streamer,
};

/// Administration of the TikTok LIVE event system.
///
/// Works on the database given by --database-url or DATABASE_URL: `mysql://user:pass@host:3306/db`
/// for MySQL 8+/MariaDB 10.6+, or a SQLite file path. Without either, the embedded SQLite file
/// data/tiklive.sqlite3 (created on demand).
#[derive(Debug, Parser)]
#[command(name = "ctl", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Database URL (mysql://user:password@host:3306/db, sqlite://PATH or a file path).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database schema (idempotent).
    ///
    /// Example: ctl migrate
    Migrate,

    /// Create the original system's initial data where missing (idempotent).
    ///
    /// Config tiktok_user = "" and the services DinoChrome (dinochrome, SYNC, max 50) and
    /// Overlays (overlays, ASYNC, max 100) with their 7 event configs each. Existing rows are
    /// never changed.
    ///
    /// Example: ctl populate-initial-data
    PopulateInitialData,

    /// Manage services (the consumers of events).
    #[command(subcommand)]
    Service(ServiceCommand),

    /// Manage which event types a service receives and how they are queued.
    #[command(subcommand, name = "event-config")]
    EventConfig(EventConfigCommand),

    /// Manage a service's trigger rules: which gift, which comment, who, how often, and what
    /// a gift combo does (event configs are the rules named after their event type).
    #[command(subcommand)]
    Rule(RuleCommand),

    /// Read and write key-value settings (e.g. tiktok_user, the default streamer).
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Inspect and maintain the per-service queues.
    #[command(subcommand)]
    Queue(QueueCommand),

    /// Inspect capture sessions and their reports.
    #[command(subcommand)]
    Session(SessionCommand),

    /// Send test events through the real dispatch path, and browse stored events.
    #[command(subcommand)]
    Event(EventCommand),

    /// Run the whole pipeline on this machine: a simulated LIVE, capture, queues, workers and
    /// the two browser-source pages, until Ctrl+C or --duration.
    ///
    /// Uses data/demo.sqlite3 unless --database-url is given (migrated and populated first).
    ///
    /// Example: ctl demo --duration 60   (from a checkout: cargo run -p ctl -- demo)
    Demo(DemoArgs),

    /// Measure the pipeline on this machine (in scratch databases, never yours).
    ///
    /// With no --database-url: a temporary SQLite file. With a MySQL URL: a scratch database
    /// created on that server (the user needs CREATE DATABASE) and dropped afterwards.
    /// Build with --release for meaningful figures. The latency run starts capture-daemon and
    /// worker-daemon from ctl's directory: build the workspace (or pass --latency-secs 0).
    ///
    /// Example: ctl bench --events 50000   (from a checkout: cargo build --release --workspace && ./target/release/ctl bench)
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop after this many seconds (default: run until Ctrl+C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Simulated LIVE activity, in messages per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Address of the browser-source pages.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub http: String,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events per ingest run.
    #[arg(long, default_value_t = 50_000)]
    pub events: usize,
    /// Events per captured frame (frames that queue up during a commit share the next one).
    #[arg(long, default_value_t = 10)]
    pub per_frame: usize,
    /// Items per drain run.
    #[arg(long, default_value_t = 20_000)]
    pub drain_items: usize,
    /// Pending items in the queue whose size is measured (bounded count vs COUNT(*)).
    #[arg(long, default_value_t = 20_000)]
    pub pending_items: usize,
    /// Seconds of the end-to-end latency run (0 skips it).
    #[arg(long, default_value_t = 30)]
    pub latency_secs: u64,
    /// Simulated LIVE messages per second during the latency run.
    #[arg(long, default_value_t = 1000.0)]
    pub latency_rate: f64,
    /// Keep a control-room dashboard open on the worker during the latency run (its live
    /// snapshots over /ws/dashboard), to measure what watching it costs.
    #[arg(long)]
    pub dashboard: bool,
    /// Measure a fleet instead: N simulated LIVEs, each captured by its own capture-daemon
    /// into one database and drained by a worker-daemon; sizes double from 1 to N and stop at
    /// the first whose lag p99 passes 100 ms or that loses anything.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub fleet: Option<u16>,
    /// Messages per second each LIVE of the fleet plays.
    #[arg(long, default_value_t = 100.0, requires = "fleet")]
    pub rate: f64,
    /// Seconds each fleet size runs.
    #[arg(long, default_value_t = 20, requires = "fleet", value_parser = clap::value_parser!(u64).range(1..))]
    pub fleet_secs: u64,
    #[command(flatten)]
    pub output: Output,
}

/// `--json` for commands that print data.
#[derive(Debug, Args, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of a table (shapes documented in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Create a service.
    ///
    /// Example: ctl service add --name "My service" --slug my_service --class exec
    ///   --setting command='python3 my_service.py' --event GiftEvent:10:sync:keep
    ///   --event CommentEvent:5:async:discard
    Add(ServiceAdd),

    /// List every service.
    ///
    /// Example: ctl service list --json
    List(Output),

    /// Show a service with its settings, event configs and queue counts.
    ///
    /// Example: ctl service show dinochrome
    Show {
        /// The service's slug.
        slug: String,
        #[command(flatten)]
        output: Output,
    },

    /// Activate a service (workers run it, dispatch feeds it).
    ///
    /// Example: ctl service enable overlays
    Enable {
        /// The service's slug.
        slug: String,
    },

    /// Deactivate a service (no new queue items; workers stop it).
    ///
    /// Example: ctl service disable overlays
    Disable {
        /// The service's slug.
        slug: String,
    },

    /// Delete a service with its event configs and queue items.
    ///
    /// Example: ctl service remove my_service
    Remove {
        /// The service's slug.
        slug: String,
    },

    /// Change a service's name, class, queue limit, description or settings.
    ///
    /// Example: ctl service set dinochrome --max-queue-size 80 --setting timeout_ms=5000
    Set(ServiceSet),

    /// Pause a service: it keeps receiving events (its queue limit applies) but no worker
    /// claims them until `service resume`; items in flight finish. Survives restarts.
    ///
    /// Example: ctl service pause dinochrome
    Pause {
        /// The service's slug.
        slug: String,
    },

    /// Resume a paused service: workers claim its queue again.
    ///
    /// Example: ctl service resume dinochrome
    Resume {
        /// The service's slug.
        slug: String,
    },
}

#[derive(Debug, Args)]
pub struct ServiceAdd {
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Unique handle: a-z, 0-9, '_' and '-'.
    #[arg(long)]
    pub slug: Slug,
    /// Kind of service: dinochrome, overlays, dummy, slow, verbose, exec, webhook.
    #[arg(long = "class", default_value = "dummy")]
    pub kind: ServiceKind,
    /// Pending items above which the overflow policy applies (at least 1).
    #[arg(long, default_value = "100", value_parser = parse_max_queue, allow_negative_numbers = true)]
    pub max_queue_size: MaxQueueSize,
    /// Free text.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Create it inactive.
    #[arg(long)]
    pub inactive: bool,
    /// A kind-specific setting, KEY=VALUE (repeatable; VALUE is JSON if it parses as JSON).
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<Setting>,
    /// An event type it receives, TYPE:PRIORITY:sync|async:keep|discard (repeatable).
    #[arg(long = "event", value_name = "TYPE:PRIORITY:MODE:DROP")]
    pub events: Vec<EventRoute>,
    /// Serve only this streamer's events (repeatable: any of them; none: every streamer).
    #[arg(long = "streamer", value_name = "HANDLE")]
    pub streamers: Vec<Streamer>,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct ServiceSet {
    /// The service's slug.
    pub slug: String,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// New kind.
    #[arg(long = "class")]
    pub kind: Option<ServiceKind>,
    /// New queue limit (at least 1).
    #[arg(long, value_parser = parse_max_queue, allow_negative_numbers = true)]
    pub max_queue_size: Option<MaxQueueSize>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// Set a setting, KEY=VALUE; KEY= removes it (repeatable).
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<Setting>,
    /// Serve only these streamers from now on (repeatable: any of them).
    #[arg(
        long = "streamer",
        value_name = "HANDLE",
        conflicts_with = "all_streamers"
    )]
    pub streamers: Vec<Streamer>,
    /// Serve every streamer again.
    #[arg(long)]
    pub all_streamers: bool,
}

fn parse_max_queue(s: &str) -> Result<MaxQueueSize, String> {
    let n: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number: use at least 1"))?;
    MaxQueueSize::new(n).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum EventConfigCommand {
    /// Create or update a service's config for one event type.
    ///
    /// New configs default to priority 5, SYNC, discardable, enabled.
    ///
    /// Example: ctl event-config set overlays GiftEvent --priority 10 --async --keep
    Set(EventConfigSet),

    /// List a service's event configs, highest priority first.
    ///
    /// Example: ctl event-config list dinochrome
    List {
        /// The service's slug.
        slug: String,
        #[command(flatten)]
        output: Output,
    },

    /// Delete a service's config for one event type (it stops receiving that type).
    ///
    /// Example: ctl event-config remove dinochrome JoinEvent
    Remove {
        /// The service's slug.
        slug: String,
        /// The event type, e.g. JoinEvent.
        event_type: EventType,
    },
}

#[derive(Debug, Args)]
pub struct EventConfigSet {
    /// The service's slug.
    pub slug: String,
    /// The event type: CommentEvent, GiftEvent, LikeEvent, ShareEvent, FollowEvent, JoinEvent,
    /// SubscribeEvent, ViewerCountEvent, LiveEndEvent.
    pub event_type: EventType,
    /// 1 (lowest) to 10 (highest).
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<Priority>,
    /// Process one at a time.
    #[arg(long, conflicts_with = "is_async")]
    pub sync: bool,
    /// Process in parallel.
    #[arg(long = "async", id = "is_async")]
    pub is_async: bool,
    /// May be dropped when the queue is full.
    #[arg(long, conflicts_with = "keep")]
    pub discardable: bool,
    /// Never dropped: enqueued even over the limit.
    #[arg(long)]
    pub keep: bool,
    /// Dispatch this type.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Stop dispatching this type (keeps the config).
    #[arg(long)]
    pub disable: bool,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print one setting's value.
    ///
    /// Example: ctl config get tiktok_user
    Get {
        /// The key.
        key: String,
    },
    /// Set a setting.
    ///
    /// Example: ctl config set tiktok_user some_streamer
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// List every setting.
    ///
    /// Example: ctl config list --json
    List(Output),
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Items per status for every service, or one.
    ///
    /// Example: ctl queue stats overlays
    Stats {
        /// Only this service.
        slug: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// A service's queue items in claim order (priority, then age).
    ///
    /// Example: ctl queue list dinochrome --status pending --limit 20
    List {
        /// The service's slug.
        slug: String,
        /// Only items in this status: pending, processing, completed, failed, discarded.
        #[arg(long)]
        status: Option<QueueStatus>,
        /// Only items ended for this reason: overflow, deleted, cooldown, cleared, skipped.
        #[arg(long)]
        reason: Option<QueueReason>,
        /// At most this many items.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        output: Output,
    },
    /// Discard every pending item of a service (reason `cleared`); items being processed
    /// finish.
    ///
    /// Example: ctl queue clear overlays
    Clear {
        /// The service's slug.
        slug: String,
    },
    /// Put a service's failed items back in the queue (their attempts are kept).
    ///
    /// Example: ctl queue retry dinochrome --id 42
    Retry {
        /// The service's slug.
        slug: String,
        /// Only this item.
        #[arg(long)]
        id: Option<i64>,
    },
    /// Give up on an item being processed: it becomes failed (reason `skipped`) and its
    /// worker moves on.
    ///
    /// Example: ctl queue skip dinochrome 42
    Skip {
        /// The service's slug.
        slug: String,
        /// The item's id (`ctl queue list SLUG --status processing`).
        id: i64,
    },
    /// Delete completed and discarded items older than a given age, in small batches (safe
    /// while capture and workers run). Failed items and the event history are kept.
    ///
    /// Example: ctl queue prune --older-than 7d
    Prune {
        /// Age of the items to delete: 30m, 12h, 7d, 2w…
        #[arg(long)]
        older_than: Age,
        /// Rows deleted per transaction (at least 1).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        batch_size: u32,
    },
}

/// A span of time: a whole number with a unit, `s`, `m`, `h`, `d` or `w` (e.g. `7d`, `12h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age(pub std::time::Duration);

impl std::str::FromStr for Age {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad =
            || format!("'{s}' is not a duration: use a number and a unit, e.g. 30m, 12h, 7d or 2w");
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = s.split_at(split);
        let n: u64 = n.parse().map_err(|_| bad())?;
        let secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(bad()),
        };
        n.checked_mul(secs)
            .map(|t| Age(std::time::Duration::from_secs(t)))
            .ok_or_else(bad)
    }
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Recent capture sessions, newest first.
    ///
    /// Example: ctl session list --limit 10
    List {
        /// At most this many sessions.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Count test sessions in the totals line too.
        #[arg(long)]
        include_tests: bool,
        #[command(flatten)]
        output: Output,
    },
    /// A session's report: duration, events by type, gifts and their value, top gifters and
    /// commenters, new followers, viewers, and per-minute figures.
    ///
    /// Example: ctl session report 3 --json
    Report {
        /// The session id.
        id: i64,
        #[command(flatten)]
        output: Output,
    },
    /// One session.
    ///
    /// Example: ctl session show 3
    Show {
        /// The session id.
        id: i64,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Send a made-up event into the streamer's test session (`is_test: true`), through the
    /// rules, cooldowns and queues a LIVE's events go through: check a rule before going live.
    ///
    /// Example: ctl event send --type GiftEvent --user alice --gift Rose --count 5
    Send(EventSend),
    /// Stored events, newest first, filtered by session, type, viewer and text.
    ///
    /// Example: ctl event list --session 3 --type CommentEvent --q hello --csv
    List(EventList),
}

#[derive(Debug, Args)]
pub struct EventSend {
    /// The event type, e.g. GiftEvent, CommentEvent, FollowEvent, LikeEvent.
    #[arg(long = "type")]
    pub event_type: EventType,
    /// The viewer's @handle.
    #[arg(long, default_value = "test_viewer")]
    pub user: String,
    /// The gift's name (GiftEvent).
    #[arg(long)]
    pub gift: Option<String>,
    /// Gifts in the combo, likes (LikeEvent) or viewers (ViewerCountEvent).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub count: i64,
    /// Diamonds per gift (default: the gift's known price, or 1).
    #[arg(long, allow_negative_numbers = true)]
    pub diamonds: Option<i64>,
    /// The comment's text (CommentEvent).
    #[arg(long)]
    pub comment: Option<String>,
    /// Whose LIVE it pretends to be (default: the tiktok_user setting).
    #[arg(long)]
    pub streamer: Option<Streamer>,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct EventList {
    /// Only this session's events.
    #[arg(long)]
    pub session: Option<i64>,
    /// Only this type.
    #[arg(long = "type")]
    pub event_type: Option<EventType>,
    /// Only this viewer's (@handle).
    #[arg(long)]
    pub user: Option<String>,
    /// Only events whose payload or viewer name contains this text.
    #[arg(long)]
    pub q: Option<String>,
    /// At most this many (1 to 10000).
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pub limit: i64,
    /// Print CSV (an export) instead of a table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Create a rule. Per event and service, the enabled rule of the event's type whose
    /// conditions all hold and that is not cooling down wins: highest priority first, then
    /// the one created first. New rules default to priority 5, SYNC, discardable, enabled.
    ///
    /// Example: ctl rule add dinochrome lion --event GiftEvent --gift Lion --priority 10
    ///   --keep --streak end --action boost
    Add(RuleAdd),

    /// Change a rule: only what the flags say (a condition given replaces the same one).
    ///
    /// Example: ctl rule set overlays chat-jump --user-cooldown 1m --no-cooldown
    Set(RuleSet),

    /// List a service's rules in matching order (by type, highest priority first).
    ///
    /// Example: ctl rule list dinochrome --json
    List {
        /// The service's slug.
        slug: String,
        #[command(flatten)]
        output: Output,
    },

    /// Delete a rule.
    ///
    /// Example: ctl rule remove dinochrome lion
    Remove {
        /// The service's slug.
        slug: String,
        /// The rule's name.
        name: String,
    },

    /// Which rule would fire for an event (as JSON: a file, or - for standard input), and why
    /// each other rule would not. Cooldowns are read from the database as they are now.
    ///
    /// Example: echo '{"event_type":"GiftEvent","data":{"gift":{"name":"Rose"}}}' | ctl rule test dinochrome --event -
    Test {
        /// The service's slug.
        slug: String,
        /// The event JSON: a file path, or - for standard input.
        #[arg(long = "event", value_name = "FILE|-")]
        event: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub struct RuleAdd {
    /// The service's slug.
    pub slug: String,
    /// The rule's name, unique in the service.
    pub name: String,
    /// The event type it matches, e.g. GiftEvent.
    #[arg(long = "event", value_name = "TYPE")]
    pub event_type: EventType,
    #[command(flatten)]
    pub fields: RuleFields,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct RuleSet {
    /// The service's slug.
    pub slug: String,
    /// The rule's name.
    pub name: String,
    /// A new event type.
    #[arg(long = "event", value_name = "TYPE")]
    pub event_type: Option<EventType>,
    #[command(flatten)]
    pub fields: RuleFields,
    /// Enable the rule.
    #[arg(long, conflicts_with = "disabled")]
    pub enabled: bool,
    /// Remove the rule-wide cooldown.
    #[arg(long, conflicts_with = "cooldown")]
    pub no_cooldown: bool,
    /// Remove the per-viewer cooldown.
    #[arg(long, conflicts_with = "user_cooldown")]
    pub no_user_cooldown: bool,
    /// Remove the action.
    #[arg(long, conflicts_with = "action")]
    pub no_action: bool,
    /// Drop every condition (then set those given).
    #[arg(long)]
    pub clear_conditions: bool,
    #[command(flatten)]
    pub output: Output,
}

/// The flags `rule add` and `rule set` share.
#[derive(Debug, Args)]
pub struct RuleFields {
    /// 1 (lowest) to 10 (highest).
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<Priority>,
    /// Process one at a time.
    #[arg(long, conflicts_with = "is_async")]
    pub sync: bool,
    /// Process in parallel.
    #[arg(long = "async", id = "is_async")]
    pub is_async: bool,
    /// Never dropped: enqueued even over the limit.
    #[arg(long, conflicts_with = "discardable")]
    pub keep: bool,
    /// May be dropped when the queue is full.
    #[arg(long)]
    pub discardable: bool,
    /// Keep the rule but do not match with it.
    #[arg(long)]
    pub disabled: bool,
    /// GiftEvent: the gift's name or id (repeatable: any of them).
    #[arg(long = "gift", value_name = "NAME|ID")]
    pub gifts: Vec<String>,
    /// GiftEvent: at least this many diamonds (total_diamonds).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub min_diamonds: Option<i64>,
    /// GiftEvent: a combo of at least this many (streak_total_count).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub min_count: Option<i64>,
    /// CommentEvent: the comment starts with this, in any letter case (e.g. !jump).
    #[arg(long, value_name = "TEXT")]
    pub comment_prefix: Option<String>,
    /// CommentEvent: the comment matches this regular expression.
    #[arg(long, value_name = "RE")]
    pub comment_regex: Option<String>,
    /// The viewer is: follower, friend, subscriber, moderator, top-gifter (repeatable: any).
    #[arg(long = "from", value_name = "KIND")]
    pub from: Vec<Audience>,
    /// The viewer's gifter level is at least this.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub min_gifter_level: Option<i64>,
    /// The viewer is this @handle (repeatable: any of them).
    #[arg(long = "user", value_name = "HANDLE")]
    pub users: Vec<String>,
    /// LikeEvent: a batch of at least this many likes.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub min_likes: Option<i64>,
    /// Fire at most once per this long (500ms, 30s, 2m, 1h).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub cooldown: Option<Cooldown>,
    /// Fire at most once per this long for one viewer.
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub user_cooldown: Option<Cooldown>,
    /// GiftEvent: every combo step (each, the default) or only the combo's end (end).
    #[arg(long, value_name = "each|end")]
    pub streak: Option<StreakPolicy>,
    /// Handed to the service (the dino page: jump, duck, boost, sparkle; the overlay page:
    /// alert, chat, none).
    #[arg(long, value_name = "TEXT")]
    pub action: Option<String>,
}
