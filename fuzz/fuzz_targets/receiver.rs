//! Every receiver type of `RECEIVER_TYPES`, picked by the first byte: any bytes, headers chosen
//! by the leading bytes (layout in `src/lib.rs`), give an event or a 400/401 that repeats no
//! secret, and never a panic. A new receiver type is fuzzed without touching this file.
#![no_main]

use dockhand_fuzz::FuzzRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let request = FuzzRequest::decode(data);
    let result = request.send();
    request.check(&result);
});
