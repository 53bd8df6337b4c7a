//! `exec`: hands each event to a user's program as one JSON line and takes its answer.
//!
//! One long-lived child per service (a process per event would cost a fork and an interpreter
//! start per like). The daemon writes one [`JobPayload`](crate::job::JobPayload) per line to
//! the child's stdin; the child answers one line per job on stdout, `{"id": N, "ok": true}` or
//! `{"id": N, "ok": false, "error": "why"}`, in any order, so ASYNC jobs can overlap. The
//! child's stderr goes to the daemon's. If the child exits, its unanswered jobs fail and the
//! next job starts it again.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{oneshot, Mutex};

use super::queue_service::QueueService;
use super::settings::{required_str, BuildError, Settings};
use crate::job::Job;

/// How long a freshly started program must stay up for the start to count.
const START_CHECK: Duration = Duration::from_millis(200);
/// A program younger than this when found dead is restarted only once it reaches this age,
/// so one that dies at once is not restarted in a tight loop.
const MIN_LIFETIME: Duration = Duration::from_secs(1);
/// How long a program may take to exit once its stdin is closed, before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A job's answer: `Err` carries the program's reason.
type Answer = Result<(), String>;
/// The jobs sent and not answered yet, by item id.
type Waiters = Arc<StdMutex<HashMap<i64, oneshot::Sender<Answer>>>>;

/// The `exec` service.
pub struct Exec {
    slug: String,
    command: String,
    cwd: Option<String>,
    child: Mutex<Option<Running>>,
}

/// The program while it runs.
struct Running {
    child: Child,
    stdin: ChildStdin,
    waiters: Waiters,
    started: Instant,
}

/// One line of the program's stdout.
#[derive(Deserialize)]
struct Reply {
    id: i64,
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

impl Exec {
    /// Reads `command` (required, run with `sh -c`) and `cwd`.
    pub fn new(slug: &str, settings: &Settings) -> Result<Exec, BuildError> {
        Ok(Exec {
            slug: slug.to_owned(),
            command: required_str(settings, "command")?,
            cwd: settings
                .get("cwd")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            child: Mutex::new(None),
        })
    }

    /// Starts the program, with a task reading its answers.
    fn spawn(&self) -> anyhow::Result<Running> {
        let mut cmd = if cfg!(windows) {
            let mut c = Command::new("cmd");
            c.arg("/C").arg(&self.command);
            c
        } else {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&self.command);
            c
        };
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd.env("TIKLIVE_SERVICE", &self.slug)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start `{}`", self.command))?;
        let stdin = child.stdin.take().context("child has no stdin")?;
        let stdout = child.stdout.take().context("child has no stdout")?;
        let waiters: Waiters = Arc::default();
        let reader = AnswerReader {
            waiters: waiters.clone(),
            slug: self.slug.clone(),
            command: self.command.clone(),
        };
        tokio::spawn(reader.read(stdout));
        tracing::info!(service = %self.slug, command = %self.command, pid = child.id(), "exec service started");
        Ok(Running {
            child,
            stdin,
            waiters,
            started: Instant::now(),
        })
    }

    /// The running program, started again if it exited.
    async fn ensure_running<'a>(
        &self,
        slot: &'a mut Option<Running>,
    ) -> anyhow::Result<&'a mut Running> {
        if !slot.as_mut().is_some_and(Running::is_alive) {
            if let Some(dead) = slot.take() {
                let age = dead.started.elapsed();
                if age < MIN_LIFETIME {
                    tokio::time::sleep(MIN_LIFETIME - age).await;
                }
            }
            *slot = Some(self.spawn()?);
        }
        slot.as_mut()
            .ok_or_else(|| anyhow!("exec child not running"))
    }

    /// Sends a job to the program (starting it if needed) and returns where its answer will
    /// arrive. A program that cannot take the line is dropped: the next job starts it again.
    async fn send(&self, job: &Job) -> anyhow::Result<AwaitedAnswer> {
        let mut line = serde_json::to_vec(&job.payload())?;
        line.push(b'\n');
        let mut slot = self.child.lock().await;
        let running = self.ensure_running(&mut slot).await?;
        let answer = running.expect_answer(job.item().id);
        if let Err(e) = running.write_line(&line).await {
            *slot = None;
            return Err(anyhow!("cannot write to `{}`: {e}", self.command));
        }
        Ok(answer)
    }
}

impl Running {
    fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Registers a job whose answer the reader will pass on.
    fn expect_answer(&self, id: i64) -> AwaitedAnswer {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(id, tx);
        AwaitedAnswer {
            rx,
            _forget: WaiterGuard {
                waiters: self.waiters.clone(),
                id,
            },
        }
    }

    async fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.stdin.write_all(line).await?;
        self.stdin.flush().await
    }
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map inconsistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A job's answer on its way.
struct AwaitedAnswer {
    rx: oneshot::Receiver<Answer>,
    _forget: WaiterGuard,
}

/// Removes a job's waiter when its caller gives up (a failed write, a timeout), so the map
/// cannot grow.
struct WaiterGuard {
    waiters: Waiters,
    id: i64,
}

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        lock(&self.waiters).remove(&self.id);
    }
}

/// Reads the program's answers and passes each to the job waiting for it.
struct AnswerReader {
    waiters: Waiters,
    slug: String,
    command: String,
}

impl AnswerReader {
    /// Until the program's stdout ends; then every job still waiting fails.
    async fn read(self, stdout: ChildStdout) {
        let mut lines = BufReader::new(stdout).lines();
        // End of output or a read error both mean the program is gone.
        while let Ok(Some(line)) = lines.next_line().await {
            let line = line.trim();
            if !line.is_empty() {
                self.answer(line);
            }
        }
        self.fail_unanswered();
    }

    fn answer(&self, line: &str) {
        let Ok(reply) = serde_json::from_str::<Reply>(line) else {
            tracing::warn!(
                service = %self.slug,
                "ignored a line that is not an answer (write logs to stderr): {}",
                line.chars().take(200).collect::<String>()
            );
            return;
        };
        let answer = if reply.ok {
            Ok(())
        } else {
            Err(reply
                .error
                .unwrap_or_else(|| "the program answered ok=false".into()))
        };
        match lock(&self.waiters).remove(&reply.id) {
            Some(tx) => {
                let _ = tx.send(answer);
            }
            None => {
                tracing::warn!(service = %self.slug, id = reply.id, "answer for an unknown or timed-out job")
            }
        }
    }

    fn fail_unanswered(&self) {
        let orphans: Vec<_> = lock(&self.waiters).drain().collect();
        if !orphans.is_empty() {
            tracing::warn!(service = %self.slug, jobs = orphans.len(), "exec program exited with jobs unanswered");
        }
        for (_, tx) in orphans {
            let _ = tx.send(Err(format!("`{}` exited before answering", self.command)));
        }
    }
}

#[async_trait]
impl QueueService for Exec {
    async fn on_start(&self) -> anyhow::Result<()> {
        let mut slot = self.child.lock().await;
        if slot.is_none() {
            let mut running = self.spawn()?;
            // A command that cannot run (a typo, a missing interpreter, a bad cwd) exits at
            // once. Failing the start keeps the service's items pending, retried when the
            // start is, instead of failing every one of them.
            tokio::time::sleep(START_CHECK).await;
            if let Some(status) = running.child.try_wait()? {
                return Err(anyhow!(
                    "`{}` exited at once ({status}); its error output is in this daemon's log",
                    self.command
                ));
            }
            *slot = Some(running);
        }
        Ok(())
    }

    async fn on_stop(&self) {
        let Some(mut running) = self.child.lock().await.take() else {
            return;
        };
        // Closing stdin is the program's signal to finish; it gets a moment before the kill.
        drop(running.stdin);
        if tokio::time::timeout(STOP_GRACE, running.child.wait())
            .await
            .is_err()
        {
            let _ = running.child.kill().await;
        }
    }

    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        let answer = self.send(job).await?;
        match answer.rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow!(e)),
            Err(_) => Err(anyhow!("`{}` exited before answering", self.command)),
        }
    }
}
