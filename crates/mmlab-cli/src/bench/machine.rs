//! The machine a bench ran on, for its header: the CPU model, the kernel release and the
//! model's git revision (embedded at build time by build.rs).

/// What the numbers of a bench run depend on besides the code.
#[derive(Debug, serde::Serialize)]
pub struct Machine {
    /// /proc/cpuinfo's model name.
    pub cpu: String,
    pub cpus_online: usize,
    /// uname -r.
    pub kernel: String,
    /// `git rev-parse --short HEAD` of the model's source when it was built.
    pub mmlab_revision: &'static str,
}

impl Machine {
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        // SAFETY: sysconf with a valid name.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        Machine {
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            cpus_online: online.max(1) as usize,
            kernel: kernel_release().unwrap_or_else(|| "unknown".into()),
            mmlab_revision: env!("MMLAB_GIT_REVISION"),
        }
    }
}

/// The CPU's name in /proc/cpuinfo: `model name` on x86, `Model` or `Hardware` on arm,
/// `cpu model` on mips, `uarch` on riscv, `cpu` on powerpc.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    [
        "model name",
        "Model",
        "Hardware",
        "cpu model",
        "uarch",
        "cpu",
    ]
    .iter()
    .find_map(|key| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
        })
    })
}

/// uname(2)'s release.
fn kernel_release() -> Option<String> {
    // SAFETY: utsname is plain data that uname fills with NUL-terminated strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return None;
        }
        let r = std::ffi::CStr::from_ptr(u.release.as_ptr());
        Some(r.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_name_comes_from_the_first_key_that_names_it() {
        let x86 =
            "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n";
        assert_eq!(cpu_model(x86).as_deref(), Some("AMD EPYC"));
        let rpi = "processor\t: 0\nBogoMIPS\t: 108.00\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4\n";
        assert_eq!(cpu_model(rpi).as_deref(), Some("Raspberry Pi 4"));
        assert_eq!(cpu_model("processor\t: 0\n"), None);
    }

    #[test]
    fn this_machine_has_a_kernel_release_and_a_revision() {
        let m = Machine::this();
        assert!(
            m.kernel.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{m:?}"
        );
        assert!(m.cpus_online >= 1);
        assert!(!m.mmlab_revision.is_empty());
    }
}
