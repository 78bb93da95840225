//! One direction of a TCP connection turned into an ordered byte stream.
//!
//! Segments may arrive in any order and overlap. The bytes that arrive first
//! win; a later copy with different bytes is counted as an inconsistent
//! retransmission. Data past a hole waits until the hole fills, the
//! connection ends or the buffer limit is reached; the hole is then reported
//! as a gap and delivery goes on after it.

use std::collections::BTreeMap;

/// Event the reassembler passes to the stream's consumer, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// Contiguous bytes; each event starts where a segment started.
    Data(&'a [u8]),
    /// This many bytes were never captured and are skipped.
    Gap(u64),
}

/// Counters of one direction's reassembly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Overlapping copies whose bytes differ from the bytes kept.
    pub inconsistent_retransmissions: u64,
    /// Segments too far from the expected sequence number to be placed.
    pub out_of_window: u64,
    /// Gaps skipped.
    pub gaps: u64,
}

/// Bytes one held piece costs beyond its data (map entry and allocation), an
/// estimate counted in the buffer limits so tiny segments cannot slip past them.
const PIECE_OVERHEAD: usize = 64;

/// A segment further away than this from the next expected byte is not placed.
const MAX_SEQUENCE_DISTANCE: i64 = 1 << 30;

/// Reassembles one direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of the next byte to deliver; unset until the first segment.
    next_sequence: Option<u32>,
    /// Stream offset of the next byte to deliver.
    delivered: u64,
    /// Out-of-order data by stream offset; ranges never overlap.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// No more data will be delivered (the consumer needs no more, or the stream was abandoned).
    closed: bool,
    pub(crate) stats: ReassemblyStats,
}

impl Reassembler {
    /// Returns the bytes held out of order, with an estimate of each piece's overhead.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Returns the stream offset of the next byte to deliver.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Returns the sequence number expected next, once known.
    pub fn next_sequence(&self) -> Option<u32> {
        self.next_sequence
    }

    /// Stops delivery and frees buffered data; later segments are ignored.
    pub fn close(&mut self) {
        self.closed = true;
        self.pending.clear();
        self.pending_bytes = 0;
    }

    /// Returns true after [`close`](Self::close).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Records the initial sequence number of a SYN; data starts one byte later.
    pub fn syn(&mut self, sequence: u32) {
        if self.next_sequence.is_none() {
            self.next_sequence = Some(sequence.wrapping_add(1));
        }
    }

    /// Adds a segment's captured payload; `wire_len` is its length on the wire.
    ///
    /// Delivers what became contiguous. When more than `max_pending` bytes wait
    /// behind a hole, the hole is skipped as a gap.
    pub fn segment(
        &mut self,
        sequence: u32,
        payload: &[u8],
        wire_len: u32,
        max_pending: usize,
        consumer: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        if self.closed || (payload.is_empty() && wire_len == 0) {
            return;
        }
        let next = *self.next_sequence.get_or_insert(sequence);
        let distance = i64::from(sequence.wrapping_sub(next) as i32);
        if distance.abs() > MAX_SEQUENCE_DISTANCE {
            self.stats.out_of_window += 1;
            return;
        }
        let start = self.delivered as i64 + distance;

        // Drop what was already delivered.
        // NOTE: bytes already delivered are not kept, so a later copy of them
        // with different content is not counted as an inconsistent retransmission.
        let skip = (self.delivered as i64 - start).max(0) as usize;
        if skip >= payload.len() {
            self.skip_truncated(start, payload.len(), wire_len, consumer);
            return;
        }
        let start = (start.max(0) as u64).max(self.delivered);
        let payload = &payload[skip..];

        if start == self.delivered && self.pending.is_empty() {
            self.deliver(payload, consumer);
            self.skip_truncated(start as i64, payload.len() + skip, wire_len, consumer);
        } else {
            self.store(start, payload);
        }
        self.drain(consumer);
        if self.pending_bytes > max_pending {
            self.skip_first_gap(consumer);
        }
    }

    /// Skips the bytes of an in-order segment that the snap length cut off, since they never arrive.
    fn skip_truncated(
        &mut self,
        segment_start: i64,
        captured: usize,
        wire_len: u32,
        consumer: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        let wire_end = segment_start + i64::from(wire_len);
        let captured_end = segment_start + captured as i64;
        if wire_end <= captured_end || captured_end != self.delivered as i64 {
            return;
        }
        // A later segment may already hold bytes past the cut.
        let wire_end = wire_end as u64;
        let first_pending = self.pending.keys().next().copied().unwrap_or(u64::MAX);
        let gap_end = wire_end.min(first_pending);
        if gap_end > self.delivered {
            self.gap(gap_end - self.delivered, consumer);
        }
    }

    /// Delivers every pending piece that now touches the delivered edge.
    fn drain(&mut self, consumer: &mut dyn FnMut(StreamEvent<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.delivered {
                break;
            }
            let piece = entry.remove();
            self.pending_bytes -= piece.len() + PIECE_OVERHEAD;
            let skip = (self.delivered - start) as usize;
            if skip < piece.len() {
                self.deliver(&piece[skip..], consumer);
            }
        }
    }

    /// Delivers pending data across every hole; called when the connection ends.
    pub fn flush(&mut self, consumer: &mut dyn FnMut(StreamEvent<'_>)) {
        while !self.pending.is_empty() && !self.closed {
            self.skip_first_gap(consumer);
        }
    }

    fn skip_first_gap(&mut self, consumer: &mut dyn FnMut(StreamEvent<'_>)) {
        let Some(&first) = self.pending.keys().next() else {
            return;
        };
        if first > self.delivered {
            self.gap(first - self.delivered, consumer);
        }
        self.drain(consumer);
    }

    fn gap(&mut self, len: u64, consumer: &mut dyn FnMut(StreamEvent<'_>)) {
        self.stats.gaps += 1;
        self.advance(len);
        consumer(StreamEvent::Gap(len));
    }

    fn deliver(&mut self, data: &[u8], consumer: &mut dyn FnMut(StreamEvent<'_>)) {
        self.advance(data.len() as u64);
        consumer(StreamEvent::Data(data));
    }

    fn advance(&mut self, len: u64) {
        self.delivered += len;
        if let Some(next) = self.next_sequence.as_mut() {
            *next = next.wrapping_add(len as u32);
        }
    }

    /// Stores the parts of a segment not already held; compares the parts that are.
    fn store(&mut self, start: u64, data: &[u8]) {
        let end = start + data.len() as u64;
        let mut cursor = start;
        let mut holes = Vec::new();
        let mut inconsistent = false;
        // Only the piece that starts before `start` can reach into the new
        // range from the left; walking from it keeps each store logarithmic.
        let first = self
            .pending
            .range(..start)
            .next_back()
            .map_or(start, |(&piece_start, _)| piece_start);
        for (&piece_start, piece) in self.pending.range(first..end) {
            let piece_end = piece_start + piece.len() as u64;
            if piece_end <= start {
                continue;
            }
            if piece_start > cursor {
                holes.push((cursor, piece_start));
            }
            let overlap_start = piece_start.max(start);
            let overlap_end = piece_end.min(end);
            let kept = &piece
                [(overlap_start - piece_start) as usize..(overlap_end - piece_start) as usize];
            let offered = &data[(overlap_start - start) as usize..(overlap_end - start) as usize];
            inconsistent |= kept != offered;
            cursor = cursor.max(piece_end);
        }
        if cursor < end {
            holes.push((cursor, end));
        }
        if inconsistent {
            self.stats.inconsistent_retransmissions += 1;
        }
        for (hole_start, hole_end) in holes {
            let bytes = &data[(hole_start - start) as usize..(hole_end - start) as usize];
            self.pending_bytes += bytes.len() + PIECE_OVERHEAD;
            self.pending.insert(hole_start, bytes.to_vec());
        }
    }
}

#[cfg(test)]
mod tests;
