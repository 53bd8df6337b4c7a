//! Diesel table definitions, one logical schema for MySQL and SQLite (see `migrations/`).

diesel::table! {
    /// One capture run against one LIVE.
    live_sessions (id) {
        id -> BigInt,
        name -> Nullable<Text>,
        started_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        status -> Text,
        room_id -> Text,
        streamer_unique_id -> Text,
        total_events -> BigInt,
        notes -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        is_test -> Bool,
    }
}

diesel::table! {
    /// Every event received from a LIVE.
    live_events (id) {
        id -> BigInt,
        session_id -> BigInt,
        event_type -> Text,
        timestamp -> Timestamp,
        room_id -> Text,
        streamer_unique_id -> Text,
        user_id -> Nullable<Text>,
        user_unique_id -> Nullable<Text>,
        user_nickname -> Nullable<Text>,
        is_streaking -> Bool,
        streak_id -> Nullable<Text>,
        streak_status -> Nullable<Text>,
        event_data -> Text,
        msg_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Consumers of events, each of a registered kind (`service_class`).
    services (id) {
        id -> BigInt,
        name -> Text,
        slug -> Text,
        service_class -> Text,
        description -> Text,
        is_active -> Bool,
        max_queue_size -> Integer,
        settings -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        is_paused -> Bool,
    }
}

diesel::table! {
    /// A service's trigger rules: which events it receives, and how they are queued.
    service_event_configs (id) {
        id -> BigInt,
        service_id -> BigInt,
        name -> Text,
        event_type -> Text,
        is_enabled -> Bool,
        priority -> Integer,
        is_async -> Bool,
        is_discardable -> Bool,
        conditions -> Nullable<Text>,
        cooldown_ms -> Nullable<BigInt>,
        user_cooldown_ms -> Nullable<BigInt>,
        streak_policy -> Text,
        action -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// One row per (service, event) delivery.
    event_queue (id) {
        id -> BigInt,
        service_id -> BigInt,
        live_event_id -> BigInt,
        session_id -> BigInt,
        status -> Text,
        reason -> Nullable<Text>,
        rule_name -> Nullable<Text>,
        priority -> Integer,
        is_async -> Bool,
        is_discardable -> Bool,
        attempts -> Integer,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        processed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// When each rule last fired, rule-wide (viewer '') and per viewer.
    rule_cooldowns (rule_id, viewer) {
        rule_id -> BigInt,
        viewer -> Text,
        fired_at -> Timestamp,
    }
}

diesel::table! {
    /// The worker daemon that currently owns each service.
    service_leases (service_id) {
        service_id -> BigInt,
        owner -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// The streamers each service serves (none listed: every streamer).
    service_streamers (service_id, streamer_unique_id) {
        service_id -> BigInt,
        streamer_unique_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// The capture daemon that currently captures each streamer, and its standby.
    capture_leases (streamer_unique_id) {
        streamer_unique_id -> Text,
        owner -> Text,
        session_id -> Nullable<BigInt>,
        expires_at -> Timestamp,
        standby -> Nullable<Text>,
        standby_seen_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Key-value settings (`tiktok_user`, ...).
    app_config (id) {
        id -> BigInt,
        meta_key -> Text,
        meta_value -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(live_events -> live_sessions (session_id));
diesel::joinable!(service_event_configs -> services (service_id));
diesel::joinable!(event_queue -> services (service_id));
diesel::joinable!(event_queue -> live_events (live_event_id));
diesel::joinable!(service_leases -> services (service_id));
diesel::joinable!(service_streamers -> services (service_id));

diesel::allow_tables_to_appear_in_same_query!(
    live_sessions,
    live_events,
    services,
    service_event_configs,
    rule_cooldowns,
    event_queue,
    service_leases,
    capture_leases,
    service_streamers,
    app_config,
);
