use super::*;

/// A small deterministic generator, so failures reproduce without extra crates.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// Collects what the reassembler delivers; a gap becomes `None` bytes.
fn run(
    segments: &[(u32, Vec<u8>)],
    isn: u32,
    max_pending: usize,
) -> (Vec<Option<u8>>, Reassembler) {
    let mut reassembler = Reassembler::default();
    reassembler.syn(isn);
    let mut out = Vec::new();
    let mut consumer = |event: StreamEvent<'_>| match event {
        StreamEvent::Data(data) => out.extend(data.iter().map(|&b| Some(b))),
        StreamEvent::Gap(len) => out.extend(std::iter::repeat_n(None, len as usize)),
    };
    for (sequence, payload) in segments {
        reassembler.segment(
            *sequence,
            payload,
            payload.len() as u32,
            max_pending,
            &mut consumer,
        );
    }
    reassembler.flush(&mut consumer);
    (out, reassembler)
}

/// The naive model: each byte takes the value of the first segment that carried it.
fn model(segments: &[(u32, Vec<u8>)], isn: u32, len: usize) -> Vec<Option<u8>> {
    let mut bytes = vec![None; len];
    for (sequence, payload) in segments {
        let start = sequence.wrapping_sub(isn.wrapping_add(1)) as usize;
        for (i, &b) in payload.iter().enumerate() {
            if bytes[start + i].is_none() {
                bytes[start + i] = Some(b);
            }
        }
    }
    let end = bytes.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    bytes.truncate(end);
    bytes
}

#[test]
fn reassembly_in_order() {
    let segments = vec![(1001, b"GET / ".to_vec()), (1007, b"HTTP/1.1\r\n".to_vec())];
    let (out, _) = run(&segments, 1000, 1 << 20);
    let text: Vec<u8> = out.into_iter().flatten().collect();
    assert_eq!(text, b"GET / HTTP/1.1\r\n");
}

#[test]
fn reassembly_matches_model_random_orders() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..2000 {
        let len = 1 + rng.below(300) as usize;
        let stream: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Wrap around the sequence space in some rounds.
        let isn = if round % 3 == 0 {
            u32::MAX - rng.below(200) as u32
        } else {
            rng.next() as u32
        };

        let mut segments = Vec::new();
        let mut covered = 0;
        while covered < len {
            let seg_len = 1 + rng.below(40) as usize;
            let end = (covered + seg_len).min(len);
            segments.push((covered, end));
            covered = end;
        }
        // Overlapping copies, some with different bytes.
        for _ in 0..rng.below(6) {
            let start = rng.below(len as u64) as usize;
            let end = (start + 1 + rng.below(30) as usize).min(len);
            segments.push((start, end));
        }
        let mut wire: Vec<(u32, Vec<u8>)> = segments
            .iter()
            .map(|&(start, end)| {
                let mut bytes = stream[start..end].to_vec();
                if rng.below(4) == 0 {
                    bytes.iter_mut().for_each(|b| *b = b.wrapping_add(1));
                }
                (isn.wrapping_add(1).wrapping_add(start as u32), bytes)
            })
            .collect();
        // Shuffle.
        for i in (1..wire.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            wire.swap(i, j);
        }

        let (out, _) = run(&wire, isn, 1 << 20);
        assert_eq!(out, model(&wire, isn, len), "round {round}");
    }
}

#[test]
fn reassembly_gap_skipped_at_flush() {
    let segments = vec![(1001, b"abc".to_vec()), (1007, b"ghi".to_vec())];
    let (out, reassembler) = run(&segments, 1000, 1 << 20);
    let expected = vec![
        Some(b'a'),
        Some(b'b'),
        Some(b'c'),
        None,
        None,
        None,
        Some(b'g'),
        Some(b'h'),
        Some(b'i'),
    ];
    assert_eq!(out, expected);
    assert_eq!(reassembler.stats.gaps, 1);
}

#[test]
fn reassembly_cap_skips_gap_early() {
    let mut reassembler = Reassembler::default();
    reassembler.syn(0);
    let mut events = Vec::new();
    let mut consumer = |event: StreamEvent<'_>| events.push(format!("{event:?}"));
    reassembler.segment(11, b"later", 5, 4, &mut consumer);
    assert_eq!(
        events,
        vec![
            "Gap(10)".to_string(),
            "Data([108, 97, 116, 101, 114])".to_string()
        ]
    );
    assert_eq!(reassembler.pending_bytes(), 0);
}

#[test]
fn reassembly_inconsistent_copy_counted_first_wins() {
    let segments = vec![
        (1004, b"XYZ".to_vec()),
        (1004, b"xyz".to_vec()),
        (1001, b"abc".to_vec()),
    ];
    let (out, reassembler) = run(&segments, 1000, 1 << 20);
    let text: Vec<u8> = out.into_iter().flatten().collect();
    assert_eq!(text, b"abcXYZ");
    assert_eq!(reassembler.stats.inconsistent_retransmissions, 1);
}

#[test]
fn reassembly_truncated_segment_becomes_gap() {
    let mut reassembler = Reassembler::default();
    reassembler.syn(0);
    let mut events = Vec::new();
    let mut consumer = |event: StreamEvent<'_>| events.push(format!("{event:?}"));
    reassembler.segment(1, b"GET", 10, 1 << 20, &mut consumer);
    reassembler.segment(11, b"x", 1, 1 << 20, &mut consumer);
    assert_eq!(events, vec!["Data([71, 69, 84])", "Gap(7)", "Data([120])"]);
}

#[test]
fn reassembly_mid_stream_start() {
    let mut reassembler = Reassembler::default();
    let mut out = Vec::new();
    let mut consumer = |event: StreamEvent<'_>| {
        if let StreamEvent::Data(data) = event {
            out.extend_from_slice(data)
        }
    };
    reassembler.segment(5000, b"world", 5, 1 << 20, &mut consumer);
    reassembler.segment(4995, b"hello", 5, 1 << 20, &mut consumer);
    reassembler.segment(5005, b"!", 1, 1 << 20, &mut consumer);
    assert_eq!(out, b"world!");
}
