fn main() {
    println!("cargo:rerun-if-changed=csrc/access.c");
    cc::Build::new()
        .file("csrc/access.c")
        .opt_level(1)
        .compile("mmlaccess");
}
