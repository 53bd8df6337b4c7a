//! `webcast-sim` as a process: the first stdout line, steps on stdin, the client against it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use events::EventType;
use lifecycle::{Backoff, Jitter, Shutdown};
use url::Url;
use webcast::client::{Client, ClientConfig, ClientEvent, StopReason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_its_address_and_plays_stdin_steps() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_webcast-sim"))
        .args([
            "--exit-on-eof",
            "--username",
            "proc_streamer",
            "--room-id",
            "42",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn webcast-sim");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    let fields: HashMap<&str, &str> = first
        .split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .collect();
    assert!(first.starts_with("webcast-sim "), "{first}");
    assert_eq!(fields.get("room_id"), Some(&"42"));
    assert_eq!(fields.get("username"), Some(&"proc_streamer"));
    let base = Url::parse(fields["sign_server"]).expect("sign_server URL");

    let mut config = ClientConfig::new("@proc_streamer").with_base_url(&base);
    config.api_key = None;
    config.heartbeat_interval = Duration::from_millis(50);
    config.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(100))
        .with_jitter(Jitter::Down(0.5));
    config.max_attempts = Some(10);
    // Never fired: the client runs until the stream ends.
    let (_running, shutdown) = Shutdown::new();
    let (mut rx, task) = Client::new(config).expect("client").spawn(64, shutdown);

    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(
        stdin,
        r#"{{"type":"comment","user":"pat","text":"from stdin ✨"}}"#
    )
    .expect("write");
    writeln!(stdin, "not json").expect("write");
    writeln!(stdin, r#"{{"type":"end"}}"#).expect("write");
    stdin.flush().expect("flush");

    let mut comments = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        match event {
            ClientEvent::Events(batch) => comments.extend(
                batch
                    .into_iter()
                    .filter(|e| e.event_type == EventType::Comment)
                    .map(|e| e.data["comment"].as_str().unwrap_or_default().to_owned()),
            ),
            ClientEvent::StreamEnded => break,
            _ => {}
        }
    }
    assert_eq!(comments, vec!["first! 🥇", "from stdin ✨"]);
    assert_eq!(
        task.await.expect("join").expect("run"),
        StopReason::StreamEnded
    );
    drop(stdin);
    let status = child.wait().expect("exit");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_scenario_file_plays_to_the_end() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/demo.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_webcast-sim"))
        .arg("--scenario")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn webcast-sim");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let base = first
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("sign_server="))
        .and_then(|u| Url::parse(u).ok())
        .expect("sign_server");
    let mut config = ClientConfig::new("sim_streamer").with_base_url(&base);
    config.api_key = None;
    config.streak_timeout = Duration::from_millis(300);
    // Never fired: the client runs until the stream ends.
    let (_running, shutdown) = Shutdown::new();
    let (mut rx, task) = Client::new(config).expect("client").spawn(64, shutdown);
    let mut types = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        match event {
            ClientEvent::Events(batch) => types.extend(batch.into_iter().map(|e| e.event_type)),
            ClientEvent::StreamEnded => break,
            _ => {}
        }
    }
    assert_eq!(
        task.await.expect("join").expect("run"),
        StopReason::StreamEnded
    );
    for t in EventType::ALL {
        assert!(types.contains(t), "the demo covers {t}");
    }
    child.kill().expect("kill");
    let _ = child.wait();
}

/// What a client collects until the stream ends: (type, msg_id, data) per event, and the raw
/// frames when asked.
async fn collect(
    mut config: ClientConfig,
) -> (Vec<(EventType, Option<i64>, String)>, Vec<Vec<u8>>) {
    config.api_key = None;
    config.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(100))
        .with_jitter(Jitter::Down(0.5));
    // Never fired: the client runs until the stream ends.
    let (_running, shutdown) = Shutdown::new();
    let (mut rx, task) = Client::new(config).expect("client").spawn(64, shutdown);
    let mut events = Vec::new();
    let mut frames = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
        match event {
            ClientEvent::Events(batch) => events.extend(
                batch
                    .into_iter()
                    .map(|e| (e.event_type, e.msg_id, e.data.to_string())),
            ),
            ClientEvent::RawFrame(f) => frames.push(f),
            ClientEvent::StreamEnded => break,
            _ => {}
        }
    }
    assert_eq!(
        task.await.expect("join").expect("run"),
        StopReason::StreamEnded
    );
    (events, frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_replayed_by_the_binary_gives_the_same_events() {
    use webcast_sim::{Fault, Scenario, Simulator, SimulatorConfig, Step};

    let steps = vec![
        Step::Comment {
            user: "alice".into(),
            text: "recorded 🎥".into(),
        },
        Step::Gift {
            user: "bob".into(),
            gift: "Rose".into(),
            count: 3,
            interval_ms: 0,
            lose_end: false,
        },
        Step::Fault {
            fault: Fault::DropConnection,
        },
        Step::Like {
            user: "carol".into(),
            count: 7,
        },
        Step::End,
    ];
    let sim = Simulator::start(SimulatorConfig {
        scenario: Scenario { steps },
        ..SimulatorConfig::default()
    })
    .await
    .expect("sim");
    let mut config = ClientConfig::new(sim.username()).with_base_url(sim.base_url());
    config.emit_raw_frames = true;
    let (original, frames) = collect(config).await;
    sim.shutdown().await;
    assert!(original
        .iter()
        .any(|(t, _, d)| *t == EventType::Comment && d.contains("first! 🥇")));

    let path = std::env::temp_dir().join(format!("webcast-replay-{}.jsonl", std::process::id()));
    let mut recorder = webcast::recording::Recorder::create(&path).expect("create");
    for (i, f) in frames.iter().enumerate() {
        recorder.write(1_000 + i as i64 * 10, f).expect("write");
    }
    drop(recorder);

    let mut child = Command::new(env!("CARGO_BIN_EXE_webcast-sim"))
        .arg("--replay")
        .arg(&path)
        .args(["--replay-speed", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn webcast-sim");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let base = first
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("sign_server="))
        .and_then(|u| Url::parse(u).ok())
        .expect("sign_server");
    let (replayed, _) = collect(ClientConfig::new("sim_streamer").with_base_url(&base)).await;
    child.kill().expect("kill");
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
    assert_eq!(replayed, original);
}
