//! `exec`: hands each event to a user's program as one JSON line and takes its answer.
//!
//! One long-lived child per service (a process per event would cost a fork and an interpreter
//! start per like). The daemon writes one [`JobPayload`](super::JobPayload) per line to the
//! child's stdin; the child answers one line per job on stdout, `{"id": N, "ok": true}` or
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
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{oneshot, Mutex};

use super::{job_payload, required_str, BuildError, Job, QueueService};

/// How long a freshly started program must stay up for the start to count.
const START_CHECK: Duration = Duration::from_millis(200);

type Answer = Result<(), String>;
type Waiters = Arc<StdMutex<HashMap<i64, oneshot::Sender<Answer>>>>;

/// The `exec` service.
pub struct Exec {
    slug: String,
    command: String,
    cwd: Option<String>,
    child: Mutex<Option<Running>>,
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    waiters: Waiters,
    started: Instant,
}

#[derive(Deserialize)]
struct Reply {
    id: i64,
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

impl Exec {
    pub fn new(
        slug: &str,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Exec, BuildError> {
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
        tokio::spawn(read_answers(
            stdout,
            waiters.clone(),
            self.slug.clone(),
            self.command.clone(),
        ));
        tracing::info!(service = %self.slug, command = %self.command, pid = child.id(), "exec service started");
        Ok(Running {
            child,
            stdin,
            waiters,
            started: Instant::now(),
        })
    }

    /// Sends a job to the running child (starting it if needed) and returns where its answer
    /// will arrive.
    async fn send(&self, job: &Job) -> anyhow::Result<(oneshot::Receiver<Answer>, Waiters)> {
        let mut line = serde_json::to_vec(&job_payload(job))?;
        line.push(b'\n');
        let mut guard = self.child.lock().await;
        let alive = match guard.as_mut() {
            Some(r) => matches!(r.child.try_wait(), Ok(None)),
            None => false,
        };
        if !alive {
            if let Some(old) = guard.take() {
                // A child that dies at once would otherwise be restarted in a tight loop.
                let age = old.started.elapsed();
                if age < Duration::from_secs(1) {
                    tokio::time::sleep(Duration::from_secs(1) - age).await;
                }
            }
            *guard = Some(self.spawn()?);
        }
        let running = guard
            .as_mut()
            .ok_or_else(|| anyhow!("exec child not running"))?;
        let (tx, rx) = oneshot::channel();
        lock(&running.waiters).insert(job.item.id, tx);
        if let Err(e) = running.stdin.write_all(&line).await {
            lock(&running.waiters).remove(&job.item.id);
            *guard = None;
            return Err(anyhow!("cannot write to `{}`: {e}", self.command));
        }
        if let Err(e) = running.stdin.flush().await {
            lock(&running.waiters).remove(&job.item.id);
            *guard = None;
            return Err(anyhow!("cannot write to `{}`: {e}", self.command));
        }
        Ok((rx, running.waiters.clone()))
    }
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map inconsistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a job's waiter when its caller gives up (timeout), so the map cannot grow.
struct WaiterGuard {
    waiters: Waiters,
    id: i64,
}

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        lock(&self.waiters).remove(&self.id);
    }
}

async fn read_answers(
    stdout: tokio::process::ChildStdout,
    waiters: Waiters,
    slug: String,
    command: String,
) {
    let mut lines = BufReader::new(stdout).lines();
    // End of output or a read error both mean the program is gone.
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Reply>(line) {
            Ok(reply) => {
                let answer = if reply.ok {
                    Ok(())
                } else {
                    Err(reply
                        .error
                        .unwrap_or_else(|| "the program answered ok=false".into()))
                };
                if let Some(tx) = lock(&waiters).remove(&reply.id) {
                    let _ = tx.send(answer);
                } else {
                    tracing::warn!(service = %slug, id = reply.id, "answer for an unknown or timed-out job");
                }
            }
            Err(_) => tracing::warn!(
                service = %slug,
                "ignored a line that is not an answer (write logs to stderr): {}",
                line.chars().take(200).collect::<String>()
            ),
        }
    }
    let orphans: Vec<_> = lock(&waiters).drain().collect();
    if !orphans.is_empty() {
        tracing::warn!(service = %slug, jobs = orphans.len(), "exec program exited with jobs unanswered");
    }
    for (_, tx) in orphans {
        let _ = tx.send(Err(format!("`{command}` exited before answering")));
    }
}

#[async_trait]
impl QueueService for Exec {
    async fn on_start(&self) -> anyhow::Result<()> {
        let mut guard = self.child.lock().await;
        if guard.is_none() {
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
            *guard = Some(running);
        }
        Ok(())
    }

    async fn on_stop(&self) {
        let Some(mut running) = self.child.lock().await.take() else {
            return;
        };
        // Closing stdin is the program's signal to finish; it gets a moment before the kill.
        drop(running.stdin);
        match tokio::time::timeout(Duration::from_secs(5), running.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                let _ = running.child.kill().await;
            }
        }
    }

    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        let (rx, waiters) = self.send(job).await?;
        let _guard = WaiterGuard {
            waiters,
            id: job.item.id,
        };
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow!(e)),
            Err(_) => Err(anyhow!("`{}` exited before answering", self.command)),
        }
    }
}
