//! A logged-in capture (`WEBCAST_SESSION_ID`): the session goes where the peers send it (the
//! cookies of the room lookup, the live check and the WebSocket; the sign server only when its
//! host is named), and never into a log line, an event, a status or an error, even at TRACE
//! (with the filter directives `webcast::session::LOG_DIRECTIVES`, which a program adds).
//! One test per binary: it installs the process-wide log subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use webcast::client::{ClientError, ClientEvent, ConnectionStatus, StopReason};
use webcast::session::Session;
use webcast::sign::Secret;
use webcast_sim::{LookupEndpoint, Simulator, SimulatorConfig};

mod common;

use common::*;

const SESSION_ID: &str = "sess-TOPSECRET-4f9a";

/// Every log line of the process, at TRACE.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_goes_where_the_peers_send_it_and_never_into_a_log() {
    let logs = Logs::default();
    let writer = logs.clone();
    // TRACE everywhere, with the directives the library asks programs to add.
    let filter = webcast::session::LOG_DIRECTIVES
        .iter()
        .fold(tracing_subscriber::EnvFilter::new("trace"), |f, d| {
            f.add_directive(d.parse().expect("directive"))
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .init();

    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator");
    let session = Session::new(Secret::new(SESSION_ID), Some("eu-ttp2".into()));

    // Not named: TikTok gets the session, the sign server does not.
    let mut config = client_config(&sim);
    config.session = Some(session.clone());
    config.session_sign_server_host = None;
    config.alive_check_after = Duration::from_millis(200);
    let mut client = run(config);
    let mut seen = client
        .until(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. })))
        .await;
    sim.wait_for(WAIT, |d| !d.alive_checks.is_empty())
        .await
        .expect("a live check in the quiet");
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    let duties = sim.duties();
    let login = format!("sessionid={SESSION_ID}");
    for lookup in &duties.lookups {
        let cookie = lookup.request.cookie.as_deref().unwrap_or_default();
        assert!(cookie.contains(&login), "{:?}", lookup.endpoint);
        assert!(cookie.contains("tt-target-idc=eu-ttp2"));
    }
    assert_eq!(duties.lookups[0].endpoint, LookupEndpoint::LivePage);
    let ws_cookie = duties.connections[0].cookie.as_deref().unwrap_or_default();
    assert!(
        ws_cookie.contains(&login) && ws_cookie.contains("sid_tt="),
        "{ws_cookie}"
    );
    assert!(
        duties.fetches[0].session_cookie.is_none(),
        "not named, not sent"
    );

    // Named: the sign server gets it too, the way its OpenAPI asks.
    let mut config = client_config(&sim);
    config.session = Some(session.clone());
    let host = sim.base_url().host_str().expect("host").to_owned();
    let port = sim.base_url().port().expect("port");
    config.session_sign_server_host = Some(format!("{host}:{port}"));
    let mut client = run(config);
    seen.extend(
        client
            .until(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. })))
            .await,
    );
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    assert_eq!(
        sim.duties()
            .fetches
            .last()
            .and_then(|f| f.session_cookie.clone()),
        Some(format!("sessionid={SESSION_ID}; tt-target-idc=eu-ttp2"))
    );

    // Named another host: refused with a line that names hosts, not the session.
    let mut config = client_config(&sim);
    config.session = Some(session);
    config.session_sign_server_host = Some("sign.example".into());
    let refused = run(config).task.await.expect("no panic");
    let Err(error @ ClientError::SessionNotAllowed(_)) = &refused else {
        panic!("{refused:?}");
    };
    sim.shutdown().await;

    let everything = format!("{}\n{seen:?}\n{error}\n{error:?}", logs.text());
    assert!(
        everything.contains("webcast connected"),
        "the logs were captured"
    );
    assert!(
        !everything.contains("TOPSECRET"),
        "the session id leaked:\n{}",
        everything
            .lines()
            .filter(|l| l.contains("TOPSECRET"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
