//! What a core dump of a process would hold: the number of copies of a secret in the
//! writable memory of a running process (its heap, its stacks and every other writable
//! mapping), read through `/proc/PID/maps` and `/proc/PID/mem`. Linux only; the reading
//! process needs the right to trace the other one (its parent, or root).

use std::fs::File;
use std::os::unix::fs::FileExt;

/// The writable regions of process `pid`: (start, end, name).
fn writable_regions(pid: u32) -> Vec<(u64, u64, String)> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/maps: {e}"));
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let name = fields.nth(3).unwrap_or("").to_string();
            if !perms.starts_with("rw") || name == "[vvar]" || name == "[vsyscall]" {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            Some((
                u64::from_str_radix(start, 16).ok()?,
                u64::from_str_radix(end, 16).ok()?,
                name,
            ))
        })
        .collect()
}

/// Counts the copies of `secret` in the writable memory of process `pid`, and where they
/// are (the mapping's name, or "anonymous"), for the failure message.
pub fn copies(pid: u32, secret: &[u8]) -> (usize, Vec<String>) {
    assert!(secret.len() >= 8, "a short secret would match by chance");
    let mem = File::open(format!("/proc/{pid}/mem"))
        .unwrap_or_else(|e| panic!("open /proc/{pid}/mem: {e}"));
    let mut count = 0;
    let mut places = Vec::new();
    let mut buf = Vec::new();
    for (start, end, name) in writable_regions(pid) {
        buf.resize((end - start) as usize, 0);
        // A region that went away since maps was read is simply not counted.
        if mem.read_exact_at(&mut buf, start).is_err() {
            continue;
        }
        let found = occurrences(&buf, secret);
        if found > 0 {
            count += found;
            let name = if name.is_empty() { "anonymous" } else { &name };
            places.push(format!("{found} in {name} at {start:#x}"));
        }
    }
    (count, places)
}

fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    let mut count = 0;
    let mut at = 0;
    while let Some(i) = haystack[at..].iter().position(|&b| b == needle[0]) {
        let i = at + i;
        if haystack[i..].starts_with(needle) {
            count += 1;
        }
        at = i + 1;
        if at + needle.len() > haystack.len() {
            break;
        }
    }
    count
}

/// Panics unless process `pid` holds no copy of any of `secrets`.
pub fn assert_no_copies(pid: u32, secrets: &[&str]) {
    for secret in secrets {
        let (count, places) = copies(pid, secret.as_bytes());
        assert_eq!(
            count,
            0,
            "process {pid} holds {count} copies of a secret: {}",
            places.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_counts_every_match() {
        assert_eq!(occurrences(b"abcabcab", b"abc"), 2);
        assert_eq!(occurrences(b"aaaa", b"aa"), 3);
        assert_eq!(occurrences(b"xyz", b"abc"), 0);
        assert_eq!(occurrences(b"ab", b"abc"), 0);
    }

    #[test]
    fn a_secret_held_by_this_process_is_found() {
        let secret = format!("held-{:x}", std::process::id() as u64 * 7919 + 12345);
        let kept = std::hint::black_box(secret.clone().into_bytes());
        let (count, places) = copies(std::process::id(), secret.as_bytes());
        assert!(count >= 2, "{count}: {places:?}");
        drop(kept);
    }
}
