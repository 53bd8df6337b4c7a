//! Who a running daemon is, for the leases it holds: `host:pid:nonce`. The host and pid let a
//! daemon of the same machine tell that a holder is gone (killed) without waiting for its
//! lease to expire; the nonce keeps ids apart when a pid is reused.

use std::path::Path;

/// A unique id for this process: `host:pid:nonce`.
pub fn instance_id() -> String {
    format!(
        "{}:{}:{:04x}",
        host_name(),
        std::process::id(),
        rand::random::<u16>()
    )
}

/// True when `id` (an [`instance_id`]) names a process of this machine that no longer runs.
/// False whenever that cannot be known: another host, an id of another shape, or a system
/// without `/proc`.
pub fn is_gone(id: &str) -> bool {
    let mut parts = id.rsplitn(3, ':');
    let (Some(_nonce), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == host_name()
        && pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_gone_and_a_dead_pid_is() {
        let me = instance_id();
        assert!(!is_gone(&me));
        // pid_max is at most 2^22 on Linux: this pid never runs.
        let dead = format!("{}:{}:beef", host_name(), 4_194_305u32);
        assert_eq!(is_gone(&dead), Path::new("/proc/self").exists());
        assert!(!is_gone("elsewhere:1:beef"));
        assert!(!is_gone("not an id"));
    }
}
