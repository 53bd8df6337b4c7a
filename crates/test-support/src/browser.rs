//! Headless Chromium driven over the DevTools protocol (plain CDP JSON over a WebSocket):
//! open a page, evaluate JavaScript, record dialogs, take screenshots, and answer requests
//! for URLs the machine cannot reach (a CDN's https avatars) from the test itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The Chromium binary: `$CHROMIUM`, else `chromium` / `chromium-browser` on the PATH.
/// Missing: a test failure under CI, a printed note and `None` elsewhere.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("CHROMIUM")
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
                .find(|p| p.is_file())
        });
    if found.is_none() {
        let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
        assert!(
            !in_ci,
            "CI is set but Chromium is missing: install Debian's `chromium` or set CHROMIUM"
        );
        eprintln!(
            "note: Chromium not found (set CHROMIUM or install `chromium`); browser test skipped"
        );
    }
    found
}

/// One headless Chromium with one page open.
pub struct Browser {
    child: Child,
    rt: tokio::runtime::Runtime,
    socket: Socket,
    session: String,
    next_id: u64,
    /// Every event received (`Page.javascriptDialogOpening`, console, exceptions, …).
    pub events: Vec<Value>,
    /// Responses given instead of the network, by exact URL: (URL, content type, body).
    served: Vec<(String, String, Vec<u8>)>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with a fresh profile and a 1920×1080 page with a transparent
    /// background; `None` when Chromium is missing outside CI. With `CHROMIUM_LOG=FILE`,
    /// Chromium's own log goes to FILE (how a crash of the browser is looked into).
    pub fn launch() -> Option<Browser> {
        let binary = chromium()?;
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--mute-audio",
                "--hide-scrollbars",
                "--window-size=1920,1080",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("CHROMIUM_LOG") {
                Some(path) => std::fs::File::create(path).map_or(Stdio::null(), Stdio::from),
                None => Stdio::null(),
            })
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let endpoint = devtools_endpoint(profile.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (socket, _) = rt
            .block_on(tokio_tungstenite::connect_async(endpoint.as_str()))
            .expect("connect to the DevTools endpoint");
        let mut browser = Browser {
            child,
            rt,
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
            served: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("targetId").to_owned();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": false}),
        );
        // What OBS shows: only what the page draws.
        browser.call(
            "Emulation.setDefaultBackgroundColorOverride",
            json!({"color": {"r": 0, "g": 0, "b": 0, "a": 0}}),
        );
        Some(browser)
    }

    /// Navigates the page.
    pub fn open(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({ "url": url }));
        assert!(r.get("errorText").is_none(), "cannot open {url}: {r}");
    }

    /// Evaluates an expression in the page; returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            return json!({ "exception": e.clone() });
        }
        r["result"].get("value").cloned().unwrap_or(Value::Null)
    }

    /// Polls `expression` until it is `true`; panics with `what` and the page's body otherwise.
    pub fn wait_for(&mut self, timeout: Duration, what: &str, expression: &str) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.eval(expression) == Value::Bool(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let body = self.eval("document.body ? document.body.outerHTML : '(no body)'");
        panic!("timed out waiting for: {what}\npage: {body}");
    }

    /// Makes the page `width`×`height` CSS pixels with an opaque background: how a streamer's
    /// browser window shows the control room (the launch size is OBS's transparent 1920×1080).
    pub fn resize(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        self.call("Emulation.setDefaultBackgroundColorOverride", json!({}));
    }

    /// Clicks the middle of the first element `selector` matches, as a mouse would (scrolled
    /// into view first); panics when there is none.
    pub fn click(&mut self, selector: &str) {
        let at = self.eval(&format!(
            "(() => {{ const el = document.querySelector({sel}); if (!el) return null; \
             el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
            sel = json!(selector)
        ));
        let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) else {
            let body = self.eval("document.body ? document.body.innerText : ''");
            panic!("nothing to click at {selector}\npage: {body}");
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Clicks into the field `selector` matches, selects what it holds and types `text` over
    /// it, as a keyboard would.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.eval(&format!(
            "document.querySelector({}).select && document.querySelector({0}).select()",
            json!(selector)
        ));
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// Picks the option `value` of the `<select>` `selector` matches with the keyboard, as a
    /// user tabbing through a form does: focus it, then arrow keys until it shows the option
    /// (a closed select changes with the arrows and fires `change`). Clicking would open the
    /// native option popup, which headless Chromium can crash on under load.
    pub fn choose(&mut self, selector: &str, value: &str) {
        let sel = json!(selector);
        let target = self.eval(&format!(
            "(() => {{ const el = document.querySelector({sel}); if (!el) return -1; \
             el.scrollIntoView({{block: 'center'}}); el.focus(); \
             return [...el.options].findIndex(o => o.value === {v}); }})()",
            v = json!(value)
        ));
        let target = target.as_i64().unwrap_or(-1);
        assert!(target >= 0, "{selector} has no option {value}");
        for _ in 0..64 {
            let at = self
                .eval(&format!("document.querySelector({sel}).selectedIndex"))
                .as_i64()
                .unwrap_or(-1);
            if at == target {
                return;
            }
            let (key, code) = if at < target {
                ("ArrowDown", 40)
            } else {
                ("ArrowUp", 38)
            };
            for kind in ["rawKeyDown", "keyUp"] {
                self.call(
                    "Input.dispatchKeyEvent",
                    json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code}),
                );
            }
        }
        panic!("the arrow keys never reached option {value} of {selector}");
    }

    /// Writes a PNG of the page to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    /// The messages of every JavaScript dialog (alert, confirm, prompt) that opened.
    pub fn dialogs(&mut self) -> Vec<String> {
        // Reads what is queued on the socket.
        self.eval("1");
        self.events
            .iter()
            .filter(|e| e["method"] == "Page.javascriptDialogOpening")
            .map(|e| e["params"]["message"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// From now on, the page's requests for `url` (exactly) are answered with `body` by the
    /// test, without touching the network: how a test shows an https picture from a CDN
    /// the machine cannot reach. A request is answered while the test talks to the browser
    /// (any call, such as the polls of [`Browser::wait_for`]).
    pub fn serve(&mut self, url: &str, content_type: &str, body: &[u8]) {
        self.served
            .push((url.to_owned(), content_type.to_owned(), body.to_vec()));
        let patterns: Vec<Value> = self
            .served
            .iter()
            .map(|(url, _, _)| json!({"urlPattern": url, "requestStage": "Request"}))
            .collect();
        self.call("Fetch.enable", json!({ "patterns": patterns }));
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let session = self.session.clone();
        let (socket, events, served) = (&mut self.socket, &mut self.events, &self.served);
        self.rt.block_on(async {
            socket
                .send(Message::text(message.to_string()))
                .await
                .expect("send to Chromium");
            let answer = tokio::time::timeout(CALL_TIMEOUT, async {
                while let Some(frame) = socket.next().await {
                    let Ok(Message::Text(text)) = frame else {
                        continue;
                    };
                    let Ok(value) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    if value["id"] == json!(id) {
                        return value;
                    }
                    if value["method"] == "Page.javascriptDialogOpening" {
                        // Record it and close it, so the page (and our calls) go on.
                        let close = json!({
                            "id": 0,
                            "sessionId": session,
                            "method": "Page.handleJavaScriptDialog",
                            "params": {"accept": true}
                        });
                        let _ = socket.send(Message::text(close.to_string())).await;
                    }
                    if value["method"] == "Fetch.requestPaused" {
                        let answer = fetch_answer(&session, &value["params"], served);
                        let _ = socket.send(Message::text(answer.to_string())).await;
                    }
                    if value.get("method").is_some() {
                        events.push(value);
                    }
                }
                panic!("Chromium closed the DevTools connection");
            })
            .await
            .unwrap_or_else(|_| panic!("Chromium did not answer {method}"));
            if let Some(e) = answer.get("error") {
                panic!("{method} failed: {e}");
            }
            answer["result"].clone()
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The answer to a paused request: the served body when its URL is one of `served`, else
/// the request goes on to the network.
fn fetch_answer(session: &str, paused: &Value, served: &[(String, String, Vec<u8>)]) -> Value {
    let request_id = paused["requestId"].clone();
    let url = paused["request"]["url"].as_str().unwrap_or("");
    match served.iter().find(|(u, _, _)| u == url) {
        Some((_, content_type, body)) => json!({
            "id": 0,
            "sessionId": session,
            "method": "Fetch.fulfillRequest",
            "params": {
                "requestId": request_id,
                "responseCode": 200,
                "responseHeaders": [{"name": "Content-Type", "value": content_type}],
                "body": base64::engine::general_purpose::STANDARD.encode(body),
            }
        }),
        None => json!({
            "id": 0,
            "sessionId": session,
            "method": "Fetch.continueRequest",
            "params": {"requestId": request_id}
        }),
    }
}

/// Reads `DevToolsActivePort` (port, then path) from the profile once Chromium wrote it.
fn devtools_endpoint(profile: &Path) -> String {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return format!("ws://127.0.0.1:{}{}", port.trim(), path.trim());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("Chromium did not open its DevTools port");
}

/// `<target dir>/screenshots/NAME`, next to the test binaries (honours CARGO_TARGET_DIR).
pub fn screenshot_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/debug/deps/<test binary>
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("screenshots").join(name)
}
