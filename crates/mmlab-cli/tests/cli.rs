//! The `mmlab` command as a user meets it: exit statuses, error messages without panics, the
//! JSON envelope, --filter, and a quiet end when the reader of its output goes away. Model
//! runs only (no host state is touched).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn mmlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mmlab"))
}

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// A scratch folder with one scenario file of these bytes.
fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mmlab-cli-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join(format!("{name}.mml"));
    std::fs::write(&f, bytes).unwrap();
    f
}

fn run(args: &[&str]) -> Output {
    mmlab().args(args).output().expect("mmlab runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    // The reader is gone before mmlab writes its first line: every write fails with EPIPE.
    drop(reader);
    let o = mmlab()
        .arg("run")
        .arg(scenarios())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(141), "{err}");
}

#[test]
fn input_errors_exit_2_with_the_place() {
    let o = run(&["run", "/nonexistent/x.mml"]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(
        t.contains("/nonexistent/x.mml: No such file or directory"),
        "{t}"
    );
    assert!(!t.contains(":0:"), "{t}");
    let f = scratch(
        "feature",
        b"title \"t\"\nfeature anon_exclusiv off\nprocess P\n",
    );
    let o = run(&["run", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(
        t.contains(&format!(
            "{}:2:9: unknown feature `anon_exclusiv`",
            f.display()
        )),
        "{t}"
    );
    let f = scratch("utf8", b"title \"t\"\nprocess P\n# \xff\n");
    let t = text(&run(&["run", f.to_str().unwrap()]));
    assert!(
        t.contains(&format!("{}:3:3: invalid UTF-8", f.display())),
        "{t}"
    );
    let f = scratch("budget", b"title \"t\"\nrepeat 1000000000 {\n}\n");
    let o = run(&["run", "--max-steps", "1000", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("step budget of 1000 (--max-steps)"),
        "{}",
        text(&o)
    );
}

#[test]
fn json_has_the_versioned_envelope_and_typed_values() {
    let f = scratch(
        "json",
        b"title \"t\"\nprocess P\nP: p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nP: store(p, 0xaa)\nP: expect load(p) == 0xab\nP: expect munmap(p, 1) fails EINVAL\n",
    );
    let o = run(&["run", "--json", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(doc["mmlab_schema"], 1);
    assert_eq!(doc["command"], "run");
    let r = &doc["reports"][0];
    assert_eq!(r["status"], "fail");
    let fail = &r["failures"][0];
    assert_eq!(fail["line"], 5);
    assert_eq!(fail["observed"], "0xaa");
    assert_eq!(fail["value"]["kind"], "compare");
    assert_eq!(fail["value"]["left"], 0xaa);
    assert_eq!(fail["value"]["right"], 0xab);
    // The state around the address: its VMA and the pagemap entries of its neighbours.
    let ctx = &fail["context"];
    assert_eq!(ctx["maps"].as_array().unwrap().len(), 1);
    assert!(ctx["pages"].as_array().unwrap().len() >= 3);
    let second = &r["failures"][1];
    assert_eq!(second["value"]["kind"], "returned");
    assert_eq!(r["lines"].as_array().unwrap().len(), 2);
    assert_eq!(doc["summary"]["failed"], 1);
}

#[test]
fn filter_keeps_scenarios_by_path_or_title() {
    let o = run(&[
        "run",
        "--filter",
        "exclusive bit goes 1, 0, 1",
        scenarios().to_str().unwrap(),
    ]);
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert_eq!(
        t.lines().filter(|l| l.starts_with("PASS")).count(),
        1,
        "{t}"
    );
    let o = run(&[
        "run",
        "--filter",
        "userfaultfd/",
        scenarios().to_str().unwrap(),
    ]);
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(t
        .lines()
        .filter(|l| l.starts_with("PASS"))
        .all(|l| l.contains("userfaultfd/")));
    assert!(
        t.lines().filter(|l| l.starts_with("PASS")).count() > 10,
        "{t}"
    );
    // Not a terminal: no colour codes.
    assert!(!t.contains('\u{1b}'), "{t}");
}

#[test]
fn trace_writes_each_step_with_its_events_as_text_or_json() {
    let f = scratch(
        "trace",
        b"title \"traced\"\nprocess P\n\
          P: p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\n\
          P: store(p, 1)\n",
    );
    let out = f.with_extension("trace");
    let o = run(&["run", "--trace", out.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = std::fs::read_to_string(&out).unwrap();
    assert!(
        t.starts_with(&format!("== {}: traced\n", f.display())),
        "{t}"
    );
    let store = t.find("    4  P: store(p, 1)\n").expect("the store step");
    assert!(t[store..].contains("         fault task 0 at 0x"), "{t}");
    let o = run(&[
        "run",
        "--json",
        "--trace",
        out.to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["command"], "trace");
    let steps = &doc["scenarios"][0]["steps"];
    assert_eq!(steps[2]["line"], 4);
    assert!(steps[2]["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "fault"));
    let o = run(&["run", "--trace", "/nonexistent/dir/t", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("--trace /nonexistent/dir/t"),
        "{}",
        text(&o)
    );
}

/// `bench --runs N` is an option of the command (it was documented but not accepted), and a
/// count outside 1..=1000 is refused before anything is measured or locked.
#[test]
fn bench_takes_a_run_count_and_refuses_a_bad_one() {
    let help = run(&["bench", "--help"]);
    assert!(help.status.success());
    assert!(text(&help).contains("--runs <RUNS>"), "{}", text(&help));
    for bad in ["0", "1001", "x"] {
        let o = run(&["bench", "--runs", bad]);
        assert_eq!(o.status.code(), Some(2), "--runs {bad}: {}", text(&o));
        assert!(text(&o).contains("--runs"), "{}", text(&o));
    }
}
