//! IPv4 and IPv6 fragment reassembly, in any order, within time and memory limits.
//!
//! Overlapping fragments keep the bytes that arrived first.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Identifies the datagram a fragment belongs to (RFC 791 and RFC 8200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragmentKey {
    pub source: IpAddr,
    pub destination: IpAddr,
    pub identification: u32,
    pub protocol: u8,
}

/// Limits on fragments kept while their datagram is incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragLimits {
    /// Incomplete datagrams kept at once; the oldest is dropped past this.
    pub max_pending_datagrams: usize,
    /// Fragment bytes kept across all incomplete datagrams.
    pub max_pending_bytes: usize,
    /// An incomplete datagram older than this, in capture time, is dropped.
    pub timeout_ns: u64,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_pending_datagrams: 4096,
            max_pending_bytes: 32 << 20,
            timeout_ns: 60_000_000_000,
        }
    }
}

/// Largest datagram that can be rebuilt: the 13-bit offset field times 8 plus one fragment.
const MAX_DATAGRAM_LEN: u32 = 65_535 + 8 * 8191;

#[derive(Debug, Default)]
struct Pending {
    /// Fragment data by byte offset; ranges never overlap.
    pieces: BTreeMap<u32, Vec<u8>>,
    /// Datagram length, known once the last fragment arrived.
    total_len: Option<u32>,
    /// Bytes from offset 0 that the pieces cover without a hole.
    covered: u32,
    first_seen_ns: u64,
    bytes: usize,
}

/// Holds fragments until their datagram is complete.
#[derive(Debug, Default)]
pub struct Defragmenter {
    limits: DefragLimits,
    pending: HashMap<FragmentKey, Pending>,
    pending_bytes: usize,
    dropped: u64,
    /// Capture time of the next pass that drops datagrams past the timeout.
    next_expiry_ns: u64,
}

impl Defragmenter {
    /// Creates an empty reassembler with the given limits.
    pub fn new(limits: DefragLimits) -> Self {
        Defragmenter {
            limits,
            ..Defragmenter::default()
        }
    }

    /// Returns the number of incomplete datagrams dropped for a limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Adds one fragment; returns the whole datagram payload once every byte is present.
    pub(crate) fn insert(
        &mut self,
        key: FragmentKey,
        offset: u32,
        more: bool,
        data: &[u8],
        now_ns: u64,
    ) -> Option<Vec<u8>> {
        let end = offset.checked_add(data.len() as u32)?;
        if end > MAX_DATAGRAM_LEN {
            return None;
        }
        self.expire(now_ns);
        let cost = data.len() + PIECE_OVERHEAD;
        if !self.pending.contains_key(&key) {
            self.make_room(cost, None);
        } else if self.pending_bytes + cost > self.limits.max_pending_bytes {
            // Later fragments of a held datagram count against the limit too.
            self.make_room(cost, Some(key));
        }

        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            first_seen_ns: now_ns,
            ..Pending::default()
        });
        if !more {
            entry.total_len.get_or_insert(end);
        }
        let added = insert_piece(&mut entry.pieces, offset, data);
        entry.bytes += added;
        self.pending_bytes += added;
        if entry.bytes > self.limits.max_pending_bytes {
            // One datagram alone is over the limit: it cannot be kept.
            if let Some(entry) = self.pending.remove(&key) {
                self.pending_bytes -= entry.bytes;
                self.dropped += 1;
            }
            return None;
        }

        let total = entry.total_len?;
        entry.covered = covered_from(&entry.pieces, entry.covered);
        if entry.covered < total {
            return None;
        }
        let entry = self.pending.remove(&key)?;
        self.pending_bytes -= entry.bytes;
        let mut datagram = Vec::with_capacity(total as usize);
        for piece in entry.pieces.into_values() {
            datagram.extend_from_slice(&piece);
        }
        datagram.truncate(total as usize);
        Some(datagram)
    }

    fn expire(&mut self, now_ns: u64) {
        // A pass over every datagram per fragment would make floods quadratic:
        // check at most once per second of capture time.
        if now_ns < self.next_expiry_ns {
            return;
        }
        self.next_expiry_ns = now_ns.saturating_add(1_000_000_000);
        let timeout = self.limits.timeout_ns;
        let before = self.pending.len();
        let mut freed = 0;
        self.pending.retain(|_, pending| {
            let keep = now_ns.saturating_sub(pending.first_seen_ns) <= timeout;
            if !keep {
                freed += pending.bytes;
            }
            keep
        });
        self.pending_bytes -= freed;
        self.dropped += (before - self.pending.len()) as u64;
    }

    /// Drops the oldest incomplete datagrams, other than `keep`, until `incoming` bytes fit the limits.
    fn make_room(&mut self, incoming: usize, keep: Option<FragmentKey>) {
        while self.pending.len() > usize::from(keep.is_some())
            && (self.pending.len()
                >= self.limits.max_pending_datagrams + usize::from(keep.is_some())
                || self.pending_bytes + incoming > self.limits.max_pending_bytes)
        {
            let oldest = self
                .pending
                .iter()
                .filter(|(key, _)| Some(**key) != keep)
                .min_by_key(|(_, pending)| pending.first_seen_ns)
                .map(|(key, _)| *key);
            let Some(oldest) = oldest else { break };
            if let Some(pending) = self.pending.remove(&oldest) {
                self.pending_bytes -= pending.bytes;
                self.dropped += 1;
            }
        }
    }
}

/// Bytes one held fragment costs beyond its data (map entry and allocation),
/// an estimate counted in the byte limit so tiny fragments cannot slip past it.
const PIECE_OVERHEAD: usize = 64;

/// Stores the parts of `data` not already covered, so the first copy of each byte wins.
///
/// Returns the bytes added, each new piece counted with its overhead.
fn insert_piece(pieces: &mut BTreeMap<u32, Vec<u8>>, offset: u32, data: &[u8]) -> usize {
    let end = offset + data.len() as u32;
    let mut cursor = offset;
    let mut added = 0;
    let mut new_pieces = Vec::new();
    // Only the piece that starts before `offset` can reach into the new range from the left.
    let first = pieces
        .range(..offset)
        .next_back()
        .map_or(offset, |(&start, _)| start);
    let covering: Vec<(u32, u32)> = pieces
        .range(first..end)
        .map(|(&start, piece)| (start, start + piece.len() as u32))
        .filter(|&(_, piece_end)| piece_end > offset)
        .collect();
    for (start, piece_end) in covering {
        if start > cursor {
            new_pieces.push((cursor, start));
        }
        cursor = cursor.max(piece_end);
    }
    if cursor < end {
        new_pieces.push((cursor, end));
    }
    for (start, stop) in new_pieces {
        let slice = &data[(start - offset) as usize..(stop - offset) as usize];
        if !slice.is_empty() {
            added += slice.len() + PIECE_OVERHEAD;
            pieces.insert(start, slice.to_vec());
        }
    }
    added
}

/// Returns how far the pieces cover the datagram without a hole, starting from a known `covered`.
///
/// Pieces never overlap, so only the last piece starting at or before
/// `covered` can extend it; each step moves to the next piece.
fn covered_from(pieces: &BTreeMap<u32, Vec<u8>>, mut covered: u32) -> u32 {
    while let Some((&start, piece)) = pieces.range(..=covered).next_back() {
        let end = start + piece.len() as u32;
        if end <= covered {
            break;
        }
        covered = end;
    }
    covered
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key() -> FragmentKey {
        FragmentKey {
            source: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            destination: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            identification: 7,
            protocol: 17,
        }
    }

    #[test]
    fn defrag_in_order() {
        let mut defrag = Defragmenter::default();
        assert_eq!(defrag.insert(key(), 0, true, b"abcdefgh", 0), None);
        assert_eq!(
            defrag.insert(key(), 8, false, b"ij", 0),
            Some(b"abcdefghij".to_vec())
        );
    }

    #[test]
    fn defrag_reversed_and_overlap_first_wins() {
        let mut defrag = Defragmenter::default();
        assert_eq!(defrag.insert(key(), 8, false, b"IJ", 0), None);
        assert_eq!(defrag.insert(key(), 4, true, b"xxxxZZ", 0), None);
        let datagram = defrag.insert(key(), 0, true, b"abcdefgh", 0);
        assert_eq!(datagram, Some(b"abcdxxxxIJ".to_vec()));
    }

    #[test]
    fn defrag_timeout_drops_datagram() {
        let mut defrag = Defragmenter::default();
        assert_eq!(defrag.insert(key(), 0, true, b"abcdefgh", 0), None);
        let later = DefragLimits::default().timeout_ns + 1;
        assert_eq!(defrag.insert(key(), 8, false, b"ij", later), None);
        assert_eq!(defrag.dropped(), 1);
    }

    #[test]
    fn defrag_limit_evicts_oldest() {
        let limits = DefragLimits {
            max_pending_datagrams: 2,
            ..DefragLimits::default()
        };
        let mut defrag = Defragmenter::new(limits);
        for id in 0..3 {
            let key = FragmentKey {
                identification: id,
                ..key()
            };
            defrag.insert(key, 0, true, b"abcdefgh", u64::from(id));
        }
        assert_eq!(defrag.dropped(), 1);
        assert_eq!(defrag.pending.len(), 2);
    }
}
