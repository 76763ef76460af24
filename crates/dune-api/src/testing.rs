//! Test-only: the workspace's proptest strategies (text an attacker would send, any JSON with the keys the
//! parsers look for), from the dev-only `test-support` crate.
pub(crate) use test_support::{hostile, json};
