# Common flows. `cargo install just` (about 2 minutes) to use them; each recipe shows its plain
# cargo command, which works without just.

set dotenv-load := true

# List the recipes.
default:
    @just --list

# Start MySQL 8 in docker compose (needs Docker; the embedded SQLite default needs nothing).
db-up:
    docker compose up -d --wait mysql

# Stop the compose MySQL (its data stays in the named volume).
db-down:
    docker compose down

# Create or upgrade the schema.
migrate:
    cargo run -q -p ctl -- migrate

# Create the original's initial data (tiktok_user, DinoChrome, Overlays).
populate:
    cargo run -q -p ctl -- populate-initial-data

# Migrate and populate.
setup: migrate populate

# The whole pipeline against the built-in LIVE simulator (Ctrl+C stops).
demo *ARGS:
    cargo run -p ctl -- demo {{ARGS}}

# Run the services (browser sources on http://127.0.0.1:8000).
workers *ARGS:
    cargo run -p worker-daemon -- --verbose {{ARGS}}

# Capture a LIVE: just capture --username someone
capture *ARGS:
    cargo run -p capture-daemon -- {{ARGS}}

# Measure the pipeline on this machine (SQLite; just bench --database-url mysql://… for MySQL).
# The latency run starts the daemons as processes, so the whole workspace is built first.
bench *ARGS:
    cargo build --release --workspace
    ./target/release/ctl bench {{ARGS}}

# List services.
services:
    cargo run -q -p ctl -- service list

# Queue counts per service.
stats:
    cargo run -q -p ctl -- queue stats

# Run every test (SQLite; MySQL too when TEST_MYSQL_URL is set).
test:
    cargo test --workspace

# Format check and lints, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The whole CI script (starts MariaDB if needed; runs as root).
ci:
    bash .ci/run
