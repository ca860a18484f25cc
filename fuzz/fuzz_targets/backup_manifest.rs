#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| guardrail_fuzz::backup_manifest(data));
