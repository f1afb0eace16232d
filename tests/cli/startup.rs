//! How the binary is linked, for a fast start (bench/RESULTS.md).

/// On Linux with glibc the binary is a position-dependent executable (ELF type
/// EXEC, not DYN): the dynamic loader has none of its data to relocate.
#[test]
#[cfg_attr(
    not(all(target_os = "linux", target_env = "gnu")),
    ignore = "the position-dependent link is for Linux with glibc only"
)]
fn binary_is_linked_position_dependent() {
    let bin = std::fs::read(env!("CARGO_BIN_EXE_wxtoken")).unwrap();
    assert_eq!(&bin[..4], b"\x7fELF");
    // e_type, at offset 16 in every ELF header, in the file's byte order (EI_DATA).
    let e_type = match bin[5] {
        1 => u16::from_le_bytes([bin[16], bin[17]]),
        _ => u16::from_be_bytes([bin[16], bin[17]]),
    };
    assert_eq!(e_type, 2, "ELF type {e_type}: 2 is EXEC, 3 is DYN (PIE)");
}
