//! Links wxtoken's programs (not the tests', not the proc macros', which are
//! shared objects) as position-dependent executables on Linux with glibc: the
//! dynamic loader then has no relocation to apply to the binary's own data
//! (some 14,000 in a position-independent one, writing to 40 pages): a
//! `wxtoken show` ran 14% fewer instructions (1.33 million before, 1.14
//! after) with 18% fewer page faults (bench/RESULTS.md). The code stays
//! position-independent; only the binary's load address is fixed, which costs
//! the address randomization of the binary itself (not of its stack, heap and
//! libraries).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo::rustc-link-arg-bins=-no-pie");
        println!("cargo::rustc-link-arg-examples=-no-pie");
    }
}
