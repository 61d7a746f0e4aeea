//! What the runner reads about a scenario process from /proc: pagemap, maps, fault counts.

use std::fs::File;
use std::os::unix::fs::FileExt;

use mmlab::fs::proc::MapsEntry;
use mmlab::Errno;

fn io_errno(e: std::io::Error) -> Errno {
    e.raw_os_error()
        .and_then(Errno::from_code)
        .unwrap_or(Errno::EIO)
}

/// The /proc/PID/pagemap entry for `addr`.
pub fn pagemap(pid: i32, addr: u64) -> Result<u64, Errno> {
    let f = File::open(format!("/proc/{pid}/pagemap")).map_err(io_errno)?;
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, (addr >> 12) * 8)
        .map_err(io_errno)?;
    Ok(u64::from_le_bytes(b))
}

/// The process's minor faults: field 10 of /proc/PID/stat (all threads of the group).
pub fn minflt(pid: i32) -> Result<u64, Errno> {
    minflt_of(&format!("/proc/{pid}/stat"))
}

/// One thread's minor faults: field 10 of /proc/PID/task/TID/stat.
pub fn thread_minflt(pid: i32, tid: i32) -> Result<u64, Errno> {
    minflt_of(&format!("/proc/{pid}/task/{tid}/stat"))
}

/// The process's major faults: field 12 of /proc/PID/stat (all threads of the group).
pub fn majflt(pid: i32) -> Result<u64, Errno> {
    stat_field(&format!("/proc/{pid}/stat"), 12)
}

fn minflt_of(stat: &str) -> Result<u64, Errno> {
    stat_field(stat, 10)
}

/// Field `n` (1-based, as proc(5) numbers them) of a stat file, for n past the command.
fn stat_field(stat: &str, n: usize) -> Result<u64, Errno> {
    let s = std::fs::read_to_string(stat).map_err(io_errno)?;
    let after = s.rsplit_once(')').map(|x| x.1).ok_or(Errno::EIO)?;
    after
        .split_whitespace()
        .nth(n - 3)
        .and_then(|v| v.parse().ok())
        .ok_or(Errno::EIO)
}

/// /proc/PID/maps, parsed.
pub fn maps(pid: i32) -> Result<Vec<MapsEntry>, Errno> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(io_errno)?;
    s.lines()
        .map(parse_maps_line)
        .collect::<Option<Vec<_>>>()
        .ok_or(Errno::EIO)
}

/// One maps line: `start-end perms offset dev inode [name]`.
pub fn parse_maps_line(line: &str) -> Option<MapsEntry> {
    let mut f = line.split_whitespace();
    let (start, end) = f.next()?.split_once('-')?;
    let perms = f.next()?.as_bytes();
    let pgoff = u64::from_str_radix(f.next()?, 16).ok()? >> 12;
    let (major, minor) = f.next()?.split_once(':')?;
    let inode = f.next()?.parse().ok()?;
    let name = f.collect::<Vec<_>>().join(" ");
    Some(MapsEntry {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        read: perms.first() == Some(&b'r'),
        write: perms.get(1) == Some(&b'w'),
        exec: perms.get(2) == Some(&b'x'),
        shared: perms.get(3) == Some(&b's'),
        pgoff,
        dev: (
            u32::from_str_radix(major, 16).ok()?,
            u32::from_str_radix(minor, 16).ok()?,
        ),
        inode,
        name,
    })
}

/// A /proc/vmstat counter.
pub fn vmstat(name: &str) -> Result<u64, String> {
    let s = std::fs::read_to_string("/proc/vmstat").map_err(|e| format!("/proc/vmstat: {e}"))?;
    s.lines()
        .find_map(|l| {
            l.split_once(' ')
                .filter(|(k, _)| *k == name)
                .and_then(|(_, v)| v.trim().parse().ok())
        })
        .ok_or_else(|| format!("/proc/vmstat has no `{name}` on this kernel"))
}

/// A /proc/meminfo field in kB.
pub fn meminfo(name: &str) -> Result<u64, String> {
    field_of("/proc/meminfo", name)
}

/// A field of /proc/PID/status in kB (`VmLck`, `VmSize`, `VmData`).
pub fn status(pid: i32, name: &str) -> Result<u64, String> {
    field_of(&format!("/proc/{pid}/status"), name)
}

/// The number after `name:` in a file of "Name: value [kB]" lines.
fn field_of(path: &str, name: &str) -> Result<u64, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    s.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| *k == name)
                .and_then(|(_, v)| v.split_whitespace().next()?.parse().ok())
        })
        .ok_or_else(|| format!("{path} has no `{name}` on this kernel"))
}

/// The /proc/PID/smaps entry whose range holds `addr`: its "Name:  N kB" fields, names in
/// lower case (`Private_Dirty` → `private_dirty`).
pub fn smaps(pid: i32, addr: u64) -> Result<Option<Vec<(String, u64)>>, Errno> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps")).map_err(io_errno)?;
    let mut fields: Option<Vec<(String, u64)>> = None;
    for line in s.lines() {
        // A VMA's header line parses as a maps line; its field lines ("Rss:  8 kB") do not.
        if let Some(e) = parse_maps_line(line) {
            if fields.is_some() {
                break;
            }
            if e.start <= addr && addr < e.end {
                fields = Some(Vec::new());
            }
            continue;
        }
        if let (Some(f), Some(flags)) = (fields.as_mut(), line.strip_prefix("VmFlags:")) {
            let listed: Vec<&str> = flags.split_whitespace().collect();
            for &(field, mnemonic, _) in mmlab::fs::proc::SMAPS_VMFLAGS {
                f.push((field.to_string(), listed.contains(&mnemonic) as u64));
            }
            continue;
        }
        if let (Some(f), Some((k, v))) = (fields.as_mut(), line.split_once(':')) {
            // Sizes end in " kB"; THPeligible is a bare 0 or 1.
            let v = v.trim();
            if let Some(n) = v
                .strip_suffix(" kB")
                .unwrap_or(v)
                .trim()
                .parse()
                .ok()
                .filter(|_| v.ends_with(" kB") || k == "THPeligible")
            {
                f.push((k.to_lowercase(), n));
            }
        }
    }
    Ok(fields)
}

/// The PFN of the shared zero page, found by read-faulting a fresh page of the runner itself.
pub fn zero_pfn() -> Result<u64, Errno> {
    // SAFETY: a private anonymous read-only page of our own, read once and unmapped.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(Errno::ENOMEM);
        }
        std::ptr::read_volatile(p as *const u8);
        let e = pagemap(std::process::id() as i32, p as u64);
        libc::munmap(p, 4096);
        let e = e?;
        if e >> 63 == 0 || e & ((1 << 55) - 1) == 0 {
            return Err(Errno::EPERM);
        }
        Ok(e & ((1 << 55) - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaps_field_lines_are_not_headers() {
        assert!(parse_maps_line("Rss:                   8 kB").is_none());
        assert!(parse_maps_line("VmFlags: rd wr mr mw me ac sd").is_none());
        assert!(parse_maps_line("THPeligible:    0").is_none());
    }

    #[test]
    fn maps_lines_parse() {
        let e = parse_maps_line(
            "7f12a000-7f12c000 rw-s 00002000 00:01 1234                       /dev/zero (deleted)",
        )
        .unwrap();
        assert_eq!(
            (e.start, e.end, e.read, e.write, e.exec, e.shared, e.pgoff),
            (0x7f12a000, 0x7f12c000, true, true, false, true, 2)
        );
        assert_eq!(
            (e.dev, e.inode, e.name.as_str()),
            ((0, 1), 1234, "/dev/zero (deleted)")
        );
        assert!(parse_maps_line("garbage").is_none());
    }
}
