//! Compile errors of `#[derive(IntoEvent)]` misuse, checked with trybuild.
//! Each case lives in `tests/derive_ui/` with the exact expected message.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite` after a change.

#[test]
fn misuse_of_the_derive_is_a_clear_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/derive_ui/*.rs");
}
