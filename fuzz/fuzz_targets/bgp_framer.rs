//! Feed arbitrary bytes to the framer in arbitrary chunks: the frames (and the
//! error, if any) must equal those of one-shot framing. The first byte picks the
//! maximum length (4096 or 65535) and seeds the chunk sizes.
#![no_main]

use bgp_wire::{Bytes, DecodeError, Framer};
use libfuzzer_sys::fuzz_target;

fn drain(f: &mut Framer, out: &mut Vec<Bytes>) -> Result<(), DecodeError> {
    while let Some(frame) = f.next_frame()? {
        out.push(frame);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let max = if first & 1 == 0 { 4096 } else { 65535 };

    let mut one = Framer::new(max);
    one.push(stream);
    let mut frames_one = Vec::new();
    let res_one = drain(&mut one, &mut frames_one);

    let mut chunked = Framer::new(max);
    let mut frames_chunked = Vec::new();
    let mut res_chunked = Ok(());
    let mut pos = 0;
    let mut seed = u32::from(first) | 1;
    while pos < stream.len() && res_chunked.is_ok() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = 1 + (seed % 64) as usize;
        let end = (pos + n).min(stream.len());
        chunked.push(&stream[pos..end]);
        pos = end;
        res_chunked = drain(&mut chunked, &mut frames_chunked);
    }
    assert_eq!(frames_chunked, frames_one);
    assert_eq!(res_chunked, res_one);
    for f in &frames_one {
        assert!(f.len() >= 19 && f.len() <= max);
    }
});
