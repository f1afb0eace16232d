//! Who this process is, for the leases it takes: read from `/proc` here and
//! nowhere else.

/// A lease owner id: host, process and a random part.
pub fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".to_string());
    let random = crate::fsafe::random();
    format!("{host}:{}:{random:016x}", std::process::id())
}
