//! Where results go: stdout line by line as each scenario finishes, coloured only on a terminal
//! without NO_COLOR, a progress line on a terminal's stderr, an end without a panic when the
//! reader of a pipe goes away, and the versioned JSON envelope.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressStyle};

/// The version of the JSON documents `--json` prints (docs/json-schema.md).
pub const SCHEMA_VERSION: u32 = 1;

/// The exit status after the reader of stdout went away: what a process killed by SIGPIPE
/// reports to a shell (128 + 13).
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// A JSON document in the envelope every `--json` output shares.
pub fn envelope(command: &str, body: serde_json::Value) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "mmlab_schema": SCHEMA_VERSION,
        "command": command,
        "mmlab_version": env!("CARGO_PKG_VERSION"),
    });
    if let (Some(d), serde_json::Value::Object(b)) = (doc.as_object_mut(), body) {
        d.extend(b);
    }
    doc
}

/// The colours of the verdict words.
#[derive(Clone, Copy)]
pub enum Tone {
    Good,
    Bad,
    Note,
    Dim,
}

/// Lines to stdout as they come, with a progress line on stderr while scenarios run.
pub struct Out {
    colour: bool,
    /// stdout was closed by its reader: print nothing more, run nothing more.
    closed: bool,
    bar: Option<ProgressBar>,
}

impl Out {
    /// Output for `total` scenarios; `progress` is false for JSON, which prints once at the end.
    pub fn new(total: usize, progress: bool) -> Out {
        let colour = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template("{pos}/{len} {wide_msg} {elapsed}")
                    .expect("a valid template"),
            );
            b
        });
        Out {
            colour,
            closed: false,
            bar,
        }
    }

    /// The reader of stdout went away.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// `text` in the tone's colour when colour is on.
    pub fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.colour {
            return text.to_string();
        }
        let style = match tone {
            Tone::Good => Style::new().fg_color(Some(AnsiColor::Green.into())),
            Tone::Bad => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
            Tone::Note => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
            Tone::Dim => Style::new().dimmed(),
        };
        format!("{style}{text}{style:#}")
    }

    /// Print one line (nothing once stdout is closed).
    pub fn line(&mut self, text: &str) {
        if self.closed {
            return;
        }
        let write = || {
            let mut o = std::io::stdout().lock();
            writeln!(o, "{text}").and_then(|_| o.flush())
        };
        let r = match &self.bar {
            Some(b) => b.suspend(write),
            None => write(),
        };
        if r.is_err() {
            // EPIPE (the reader is gone) or any other write error: stop printing.
            self.closed = true;
        }
    }

    /// The progress line names the scenario now running.
    pub fn running(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(what.to_string());
        }
    }

    /// One more scenario done.
    pub fn advance(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Print a JSON document.
    pub fn json(&mut self, doc: &serde_json::Value) {
        self.done();
        let text = serde_json::to_string_pretty(doc).expect("JSON values serialise");
        self.line(&text);
    }

    /// Remove the progress line.
    pub fn done(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    /// The exit status: `code`, or the broken-pipe status if stdout went away.
    pub fn exit(mut self, code: u8) -> ExitCode {
        self.done();
        ExitCode::from(if self.closed { EXIT_BROKEN_PIPE } else { code })
    }
}

/// `--trace FILE`: each scenario's statements with the model's trace events under each, as
/// text written scenario by scenario, or one JSON document written at the end.
pub struct TraceFile {
    file: BufWriter<std::fs::File>,
    path: String,
    /// For JSON: the scenarios so far.
    json: Option<Vec<serde_json::Value>>,
}

impl TraceFile {
    /// Create (or truncate) the file.
    pub fn create(path: &Path, json: bool) -> Result<TraceFile, String> {
        let file =
            std::fs::File::create(path).map_err(|e| format!("--trace {}: {e}", path.display()))?;
        Ok(TraceFile {
            file: BufWriter::new(file),
            path: path.display().to_string(),
            json: json.then(Vec::new),
        })
    }

    /// Add one scenario's trace.
    pub fn scenario(&mut self, r: &mmlab_scenario::Report) -> Result<(), String> {
        if let Some(all) = &mut self.json {
            all.push(serde_json::json!({
                "path": r.path, "title": r.title, "status": r.status, "steps": r.trace,
            }));
            return Ok(());
        }
        let mut text = format!("== {}: {}\n", r.path, r.title);
        if r.trace.is_empty() {
            text.push_str(&format!("   ({}; nothing ran)\n", tag_of(r.status)));
        }
        for s in &r.trace {
            text.push_str(&format!("{:>5}  {}\n", s.line, s.step));
            for e in &s.events {
                text.push_str(&format!("         {e}\n"));
            }
        }
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| format!("--trace {}: {e}", self.path))
    }

    /// Write what is left (the JSON document) and close the file.
    pub fn finish(mut self) -> Result<(), String> {
        if let Some(all) = self.json.take() {
            let doc = envelope("trace", serde_json::json!({ "scenarios": all }));
            serde_json::to_writer_pretty(&mut self.file, &doc)
                .map_err(|e| format!("--trace {}: {e}", self.path))?;
            self.file
                .write_all(b"\n")
                .map_err(|e| format!("--trace {}: {e}", self.path))?;
        }
        self.file
            .flush()
            .map_err(|e| format!("--trace {}: {e}", self.path))
    }
}

/// A status as a word, for the trace's note on a scenario that did not run.
fn tag_of(s: mmlab_scenario::Status) -> &'static str {
    match s {
        mmlab_scenario::Status::Pass => "passed",
        mmlab_scenario::Status::Fail => "failed",
        mmlab_scenario::Status::Skip => "skipped",
        mmlab_scenario::Status::Error => "not run: an input error",
    }
}
