//! Link flags for the package's programs (wxtoken, the examples, the tests).
//!
//! Relative relocations packed (`-z pack-relative-relocs`, DT_RELR): the
//! dynamic loader applies wxtoken's some 15,000 relative relocations from a
//! bitmap instead of a 24-byte entry each, which is most of what it does
//! before `main` (a `show` is a few milliseconds, the loader a third of its
//! instructions). The linker leaves the flag out (with a warning) where it
//! does not know it, and glibc 2.36 or later reads the packed form.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os == "linux" && target_env == "gnu" {
        println!("cargo:rustc-link-arg=-Wl,-z,pack-relative-relocs");
    }
}
