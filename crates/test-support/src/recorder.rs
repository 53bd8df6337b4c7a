//! A recording `exec` service for the tests that check what ran when: each job's start and
//! end are appended to a log, from which [`spans`] and [`max_overlap`] tell whether a SYNC
//! service ever ran two jobs at once.

use std::path::Path;

/// A recording `exec` program: for each job it appends `ID start NS`, works `SECS` seconds,
/// appends `ID end NS ATTEMPT`, and answers ok. With `async` it works on jobs in parallel.
const RECORDER: &str = r#"#!/bin/sh
log="$1"; secs="$2"; mode="$3"
work() {
  echo "$1 start $(date +%s%N)" >> "$log"
  sleep "$secs"
  echo "$1 end $(date +%s%N) $2" >> "$log"
  echo "{\"id\":$1,\"ok\":true}"
}
while IFS= read -r line; do
  id=$(printf '%s\n' "$line" | sed -n 's/^{"id":\([0-9]*\),.*/\1/p')
  attempt=$(printf '%s\n' "$line" | sed -n 's/.*"attempt":\([0-9]*\),.*/\1/p')
  if [ "$mode" = async ]; then work "$id" "$attempt" & else work "$id" "$attempt"; fi
done
wait
"#;

/// The command of a recording exec service writing to `log`.
pub fn recorder(dir: &Path, log: &Path, secs: f64, is_async: bool) -> String {
    let script = dir.join("recorder.sh");
    std::fs::write(&script, RECORDER).expect("write recorder");
    format!(
        "sh {} {} {secs} {}",
        script.display(),
        log.display(),
        if is_async { "async" } else { "sync" }
    )
}

/// One processed job as recorded: (queue item id, start ns, end ns, attempt).
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// The queue item.
    pub id: i64,
    /// When the job started (ns since the epoch).
    pub start: u128,
    /// When it ended (ns since the epoch).
    pub end: u128,
    /// The attempt the job said it was.
    pub attempt: u32,
}

/// The finished jobs of a recorder log, in start order.
pub fn spans(log: &Path) -> Vec<Span> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut starts = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [id, "start", ns] => {
                starts.insert(id.parse::<i64>().unwrap(), ns.parse::<u128>().unwrap());
            }
            [id, "end", ns, attempt] => {
                let id = id.parse::<i64>().unwrap();
                out.push(Span {
                    id,
                    start: starts.get(&id).copied().unwrap_or_default(),
                    end: ns.parse().unwrap(),
                    attempt: attempt.parse().unwrap_or(0),
                });
            }
            _ => {}
        }
    }
    out.sort_by_key(|s| s.start);
    out
}

/// The most jobs running at once in a set of spans.
pub fn max_overlap(spans: &[Span]) -> usize {
    let mut edges: Vec<(u128, i32)> = spans
        .iter()
        .flat_map(|s| [(s.start, 1), (s.end, -1)])
        .collect();
    // Ends before starts at the same instant: touching spans do not overlap.
    edges.sort_by_key(|&(t, d)| (t, d));
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}
