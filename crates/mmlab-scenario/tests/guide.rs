//! The language guide (docs/scenario-language.md) and the code's own tables name the same
//! things: every call, advice value, feature, header directive, signal, record field and
//! counter the code accepts is in the guide, and every such name the guide lists exists.

use std::collections::BTreeSet;
use std::path::Path;

use mmlab_scenario::lang;

fn guide() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenario-language.md");
    std::fs::read_to_string(p).expect("the guide is readable")
}

/// Every word of the guide that starts with `prefix` (letters, digits, `_`, `.` after it).
fn words_with(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices(prefix) {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let w: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        out.insert(w.trim_end_matches('.').to_string());
    }
    out
}

/// `name` appears in the guide in backquotes (alone, or as the start of a call).
fn documented(g: &str, name: &str) -> bool {
    g.contains(&format!("`{name}`"))
        || g.contains(&format!("`{name}("))
        || g.contains(&format!("`{name} "))
}

#[test]
fn every_call_is_in_the_guide_and_every_documented_model_probe_exists() {
    let g = guide();
    let missing: Vec<&str> = lang::calls()
        .iter()
        .map(|c| c.name)
        .filter(|n| !documented(&g, n))
        .collect();
    assert!(
        missing.is_empty(),
        "calls the guide does not describe: {missing:?}"
    );
    let unknown: Vec<String> = words_with(&g, "model.")
        .into_iter()
        .filter(|w| w.len() > "model.".len())
        .filter(|w| lang::call_spec(w).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "model probes the guide names but the code lacks: {unknown:?}"
    );
}

#[test]
fn advice_values_features_and_headers_match_the_code() {
    let g = guide();
    let code_madv: BTreeSet<String> = mmlab::uapi::NAMES
        .iter()
        .map(|(n, _)| n.to_string())
        .filter(|n| n.starts_with("MADV_"))
        .collect();
    let guide_madv: BTreeSet<String> = words_with(&g, "MADV_")
        .into_iter()
        .filter(|w| !w.ends_with('_'))
        .collect();
    assert_eq!(
        guide_madv, code_madv,
        "the guide's advice values and mmlab::uapi::NAMES differ"
    );
    for f in mmlab::config::Features::NAMES {
        assert!(documented(&g, f), "feature `{f}` is not in the guide");
    }
    for d in mmlab_scenario::parse::HEADER_DIRECTIVES {
        assert!(
            documented(&g, d),
            "header directive `{d}` is not in the guide"
        );
    }
    for s in lang::SIGNALS {
        assert!(g.contains(s), "signal {s} is not in the guide");
    }
}

#[test]
fn record_fields_and_counter_names_match_the_code() {
    let g = guide();
    let records = [
        &lang::PAGEMAP,
        &lang::MAPS,
        &lang::SMAPS,
        &lang::UFFD_MSG,
        &lang::STAT,
        &lang::MODEL_PAGE,
    ];
    for r in records {
        for f in (r.fields)() {
            assert!(
                g.contains(&format!("`.{f}`")),
                "{} field `.{f}` is not in the guide",
                r.name
            );
        }
    }
    for n in mmlab::fs::proc::MEMINFO_NAMES {
        assert!(g.contains(n), "meminfo field {n} is not in the guide");
    }
    for n in mmlab::vmstat::VmStat::names() {
        assert!(
            g.contains(&format!("`{n}`")),
            "counter `{n}` is not in the guide"
        );
    }
}

/// The syscall table of the guide is the one the declarations generate.
#[test]
fn the_guide_syscall_table_is_generated_from_the_declarations() {
    const BEGIN: &str =
        "<!-- syscall table: generated from crates/mmlab-scenario/src/syscalls.rs -->\n";
    const END: &str = "<!-- end of the generated syscall table -->";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenario-language.md");
    let g = guide();
    let start = g.find(BEGIN).expect("the guide marks its syscall table") + BEGIN.len();
    let end = start + g[start..].find(END).expect("the table's end is marked");
    let want = mmlab_scenario::syscalls::guide_table();
    if g[start..end] != want && std::env::var_os("MMLAB_BLESS").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &g[..start], &g[end..])).unwrap();
        return;
    }
    assert_eq!(
        g[start..end],
        want,
        "docs/scenario-language.md's syscall table differs from the declarations in \
         crates/mmlab-scenario/src/syscalls.rs (MMLAB_BLESS=1 cargo test -p mmlab-scenario \
         --test guide rewrites it)"
    );
}
