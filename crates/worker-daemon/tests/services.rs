//! The `webhook` service against a local HTTP server, and the README's Python `exec` example.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Fixture;
use core_models::{EventType, QueueStatus, ServiceKind};
use serde_json::json;

const LONG: Duration = Duration::from_secs(60);

/// Requests a test server saw: (path, JSON body).
type Seen = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A minimal HTTP server: records (path, body) of each request; `/ok` answers 200, `/hang`
/// never answers (for 10 s), anything else 500.
fn http_server() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let record = record.clone();
            std::thread::spawn(move || answer(stream, &record));
        }
    });
    (base, seen)
}

/// Answers one request (see [`http_server`]).
fn answer(mut stream: std::net::TcpStream, record: &Seen) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    record.lock().unwrap().push((path.clone(), json));
    if path == "/hang" {
        std::thread::sleep(Duration::from_secs(10));
        return;
    }
    let response = if path == "/ok" {
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
    } else {
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope"
            .to_owned()
    };
    let _ = stream.write_all(response.as_bytes());
}

#[test]
fn webhook_posts_each_event_and_2xx_means_success() {
    for mut fx in Fixture::all() {
        let (base, seen) = http_server();
        let good = fx.add_service(
            "hook_ok",
            ServiceKind::Webhook,
            &[("url", json!(format!("{base}/ok")))],
            true,
            &[(EventType::Gift, 10), (EventType::Comment, 5)],
        );
        let bad = fx.add_service(
            "hook_bad",
            ServiceKind::Webhook,
            &[
                ("url", json!(format!("{base}/fail"))),
                ("retries", json!(1)),
            ],
            true,
            &[(EventType::Gift, 10)],
        );
        let _w = fx.spawn_worker("w", &[]);
        fx.enqueue(&[EventType::Gift, EventType::Comment]);
        fx.wait(LONG, "the good hook completes both", || {
            fx.stats(good).completed == 2
        });
        fx.wait(LONG, "the bad hook fails its item", || {
            fx.stats(bad).failed == 1
        });

        let seen = seen.lock().unwrap().clone();
        let ok: Vec<&serde_json::Value> = seen
            .iter()
            .filter(|(p, _)| p == "/ok")
            .map(|(_, b)| b)
            .collect();
        assert_eq!(ok.len(), 2);
        let gift = ok
            .iter()
            .find(|b| b["event"]["type"] == "GiftEvent")
            .unwrap();
        assert_eq!(gift["service"], "hook_ok");
        assert_eq!(gift["priority"], 10);
        assert_eq!(gift["attempt"], 1);
        assert_eq!(gift["event"]["user"]["nickname"], "Nick 🎁");
        assert_eq!(gift["event"]["room_id"], "room1");
        assert!(gift["event"]["timestamp"].as_str().unwrap().ends_with('Z'));
        // One try plus one retry.
        assert_eq!(seen.iter().filter(|(p, _)| p == "/fail").count(), 2);
        let failed = fx.items(bad).pop().unwrap();
        assert_eq!(failed.status, QueueStatus::Failed);
        let err = failed.last_error.unwrap();
        assert!(err.contains("500") && err.contains("nope"), "{err}");
    }
}

#[test]
fn a_hanging_webhook_fails_by_its_request_timeout_and_is_retried() {
    for mut fx in Fixture::all() {
        let (base, seen) = http_server();
        let hang = fx.add_service(
            "hook_hang",
            ServiceKind::Webhook,
            &[
                ("url", json!(format!("{base}/hang"))),
                ("request_timeout_ms", json!(300)),
                ("retries", json!(1)),
            ],
            true,
            &[(EventType::Gift, 10)],
        );
        let _w = fx.spawn_worker("w", &[]);
        fx.enqueue(&[EventType::Gift]);
        fx.wait(LONG, "the hanging hook fails its item", || {
            fx.stats(hang).failed == 1
        });
        // Each request timed out on its own and was retried; the item's own timeout
        // (timeout_ms, 30 s by default) never fired.
        let hangs = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == "/hang")
            .count();
        assert_eq!(hangs, 2, "one try plus one retry");
        let err = fx.items(hang).pop().unwrap().last_error.unwrap();
        assert!(err.starts_with("POST ") && err.contains("/hang"), "{err}");
        assert!(!err.starts_with("timed out after"), "{err}");
    }
}

#[test]
fn the_readme_python_example_service_runs() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("python3 is not installed: the Python example is not exercised here");
        return;
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let file = format!("{root}/examples/exec_service.py");
    // The README's own listing, exactly as a reader copies it.
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let listing = readme
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a Python listing in the README");
    for mut fx in Fixture::all() {
        let copied = fx.path("readme_service.py");
        std::fs::write(&copied, listing).unwrap();
        let services = [
            (
                "py_example",
                file.clone(),
                "[py_example] Nick 🎁 sent Rose x5",
            ),
            (
                "py_readme",
                copied.display().to_string(),
                "Nick 🎁 sent Rose",
            ),
        ];
        let ids: Vec<i64> = services
            .iter()
            .map(|(slug, script, _)| {
                fx.add_service(
                    slug,
                    ServiceKind::Exec,
                    &[("command", json!(format!("python3 {script}")))],
                    false,
                    &[(EventType::Gift, 10), (EventType::Comment, 5)],
                )
            })
            .collect();
        let w = fx.spawn_worker("w", &[]);
        let rose = json!({"gift": {"name": "Rose"}, "repeat_count": 5});
        fx.enqueue_event(EventType::Gift, "Nick 🎁", rose.clone());
        fx.enqueue(&[EventType::Comment]);
        fx.enqueue_event(EventType::Gift, "Nick 🎁", rose);
        fx.wait(LONG, "each Python service completes all three", || {
            ids.iter().all(|&id| fx.stats(id).completed == 3)
        });
        let log = w.output();
        for (_, _, expected) in &services {
            assert!(log.contains(expected), "no {expected:?} in:\n{log}");
        }
        assert!(log.contains("[py_example] Nick 🎁: hi"), "{log}");
    }
}
