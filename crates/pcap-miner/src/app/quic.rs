//! Server names from QUIC Initial packets.
//!
//! A client's first Initial packets carry its TLS ClientHello in CRYPTO
//! frames. Anyone can derive their keys from the Destination Connection ID
//! the client chose (RFC 9001 section 5.2). So a passive reader removes the
//! header protection, decrypts the payload and joins the CRYPTO frames in
//! offset order across packets and datagrams. The ClientHello is then read
//! with the same parser as TLS over TCP.
//!
//! QUIC v1 (RFC 9000), v2 (RFC 9369) and drafts 29 to 32 are read on any
//! UDP port. Connections are keyed by the client and server addresses; the
//! keys stay those of the client's first Destination Connection ID even after
//! the server picks a new one, as RFC 9001 requires.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use aes_gcm::aead::generic_array::GenericArray;

use super::tls::{parse_client_hello, MAX_CLIENT_HELLO_LEN};
use super::tls_decrypt::{
    hkdf_expand_label, hkdf_extract_sha256, sequence_nonce, Aead, Bulk, Hash,
};

/// Default number of connections tracked at once; past the limit the oldest is dropped.
pub const MAX_CONNECTIONS: usize = 4096;

/// CRYPTO stream bytes kept per connection: a ClientHello of the largest size read over TCP.
const MAX_CRYPTO_LEN: usize = 4 + MAX_CLIENT_HELLO_LEN;

/// Farthest a CRYPTO frame may start past the bytes joined so far.
const MAX_CRYPTO_GAP: usize = 16 * 1024;
/// Most separate ranges one connection's CRYPTO stream may hold.
const MAX_CRYPTO_RANGES: usize = 256;
const MAX_CONNECTION_ID_LEN: usize = 20;
const SAMPLE_LEN: usize = 16;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;

/// A QUIC version whose Initial packets can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuicVersion {
    /// Version 1, RFC 9000 and 9001.
    V1,
    /// Version 2, RFC 9369.
    V2,
    /// Drafts 29 to 32, which share the draft-29 salt.
    Draft29,
}

/// Long header packet types, whose wire values differ between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PacketType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

impl QuicVersion {
    /// Returns the version of a version field value, if it is one that is read.
    pub fn from_wire(version: u32) -> Option<Self> {
        match version {
            0x0000_0001 => Some(QuicVersion::V1),
            0x6b33_43cf => Some(QuicVersion::V2),
            0xff00_001d..=0xff00_0020 => Some(QuicVersion::Draft29),
            _ => None,
        }
    }

    /// Returns the salt of the initial secret (RFC 9001 section 5.2, RFC 9369 section 3.3.1,
    /// draft-ietf-quic-tls-29 section 5.2).
    fn initial_salt(self) -> [u8; 20] {
        match self {
            QuicVersion::V1 => [
                0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
            ],
            QuicVersion::V2 => [
                0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26,
                0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
            ],
            QuicVersion::Draft29 => [
                0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61,
                0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99,
            ],
        }
    }

    /// Labels of the packet key, IV and header protection key.
    fn key_labels(self) -> [&'static [u8]; 3] {
        match self {
            QuicVersion::V2 => [b"quicv2 key", b"quicv2 iv", b"quicv2 hp"],
            QuicVersion::V1 | QuicVersion::Draft29 => [b"quic key", b"quic iv", b"quic hp"],
        }
    }

    /// Returns the packet type of the two type bits of a long header.
    fn packet_type(self, bits: u8) -> PacketType {
        let v1_order = match self {
            // Version 2 shifts every type by one (RFC 9369 section 3.2).
            QuicVersion::V2 => bits.wrapping_sub(1) & 0b11,
            QuicVersion::V1 | QuicVersion::Draft29 => bits & 0b11,
        };
        match v1_order {
            0 => PacketType::Initial,
            1 => PacketType::ZeroRtt,
            2 => PacketType::Handshake,
            _ => PacketType::Retry,
        }
    }
}

/// Counters of QUIC Initial reading, under stable names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QuicStats {
    /// Client Initial packets decrypted.
    pub initial_packets: u64,
    /// ClientHellos joined from CRYPTO frames and read.
    pub client_hellos: u64,
    /// Joined CRYPTO data that did not hold a readable ClientHello.
    pub malformed_client_hellos: u64,
    /// Connections dropped before their ClientHello was complete, to stay within the connection limit.
    pub evicted_connections: u64,
}

impl QuicStats {
    /// Adds the counters of another part of the run, such as another worker's.
    pub fn add(&mut self, other: &QuicStats) {
        self.initial_packets += other.initial_packets;
        self.client_hellos += other.client_hellos;
        self.malformed_client_hellos += other.malformed_client_hellos;
        self.evicted_connections += other.evicted_connections;
    }
}

/// Packet protection keys of one direction's Initial packets.
pub(crate) struct InitialKeys {
    aead: Aead,
    iv: [u8; 12],
    header: Aes128,
}

impl InitialKeys {
    /// Derives the client's Initial keys from the Destination Connection ID of its first Initial.
    pub(crate) fn client(version: QuicVersion, connection_id: &[u8]) -> Option<Self> {
        Self::derive(version, connection_id, b"client in")
    }

    fn derive(version: QuicVersion, connection_id: &[u8], label: &[u8]) -> Option<Self> {
        let initial = hkdf_extract_sha256(&version.initial_salt(), connection_id);
        let secret = hkdf_expand_label(Hash::Sha256, &initial, label, b"", 32)?;
        let [key_label, iv_label, hp_label] = version.key_labels();
        let key = hkdf_expand_label(Hash::Sha256, &secret, key_label, b"", 16)?;
        let iv = hkdf_expand_label(Hash::Sha256, &secret, iv_label, b"", 12)?;
        let hp = hkdf_expand_label(Hash::Sha256, &secret, hp_label, b"", 16)?;
        Some(InitialKeys {
            aead: Aead::new(Bulk::Aes128Gcm, &key)?,
            iv: iv.try_into().ok()?,
            header: Aes128::new_from_slice(&hp).ok()?,
        })
    }

    /// Returns the header protection mask of a ciphertext sample (RFC 9001 section 5.4.3).
    fn mask(&self, sample: &[u8]) -> [u8; SAMPLE_LEN] {
        let mut block = GenericArray::clone_from_slice(sample);
        self.header.encrypt_block(&mut block);
        block.into()
    }

    /// Removes header protection and decrypts one packet; returns its packet number and payload.
    fn open(
        &self,
        packet: &[u8],
        packet_number_offset: usize,
        largest_packet_number: Option<u64>,
    ) -> Option<(u64, Vec<u8>)> {
        // The sample starts 4 bytes after the packet number begins, whatever its length.
        let sample_start = packet_number_offset + 4;
        let sample = packet.get(sample_start..sample_start + SAMPLE_LEN)?;
        let mask = self.mask(sample);

        let first_byte = packet.first()? ^ (mask[0] & 0x0f);
        let number_len = usize::from(first_byte & 0b11) + 1;
        let number_end = packet_number_offset + number_len;
        let mut header = packet.get(..number_end)?.to_vec();
        header[0] = first_byte;
        let mut truncated = 0u64;
        for (index, byte) in header[packet_number_offset..].iter_mut().enumerate() {
            *byte ^= mask[1 + index];
            truncated = truncated << 8 | u64::from(*byte);
        }

        let packet_number =
            decode_packet_number(largest_packet_number, truncated, 8 * number_len as u32);
        let nonce = sequence_nonce(&self.iv, packet_number);
        let payload = self
            .aead
            .open(&nonce, &header, &packet[number_end..])
            .ok()?;
        Some((packet_number, payload))
    }
}

/// Recovers a full packet number from its truncated form (RFC 9000 appendix A.3).
fn decode_packet_number(largest: Option<u64>, truncated: u64, bits: u32) -> u64 {
    let expected = largest.map_or(0, |largest| largest + 1);
    let window = 1u64 << bits;
    let half_window = window / 2;
    let candidate = (expected & !(window - 1)) | truncated;
    if candidate + half_window <= expected && candidate < (1 << 62) - window {
        candidate + window
    } else if candidate > expected + half_window && candidate >= window {
        candidate - window
    } else {
        candidate
    }
}

/// The fields of a long header packet that reading needs.
struct LongHeader<'a> {
    version: QuicVersion,
    packet_type: PacketType,
    destination_id: &'a [u8],
    /// Offset of the (protected) packet number from the packet start.
    packet_number_offset: usize,
    /// Length of the whole packet within the datagram.
    packet_len: usize,
}

/// Reads a long header at the start of `data`; `None` for a short header, an
/// unknown version, a Retry or a cut packet.
fn read_long_header(data: &[u8]) -> Option<LongHeader<'_>> {
    let mut cursor = Cursor { data, position: 0 };
    let first_byte = cursor.byte()?;
    if first_byte & 0x80 == 0 {
        return None;
    }
    let version = QuicVersion::from_wire(u32::from_be_bytes(cursor.bytes(4)?.try_into().ok()?))?;
    let packet_type = version.packet_type(first_byte >> 4);
    let destination_len = usize::from(cursor.byte()?);
    if destination_len > MAX_CONNECTION_ID_LEN {
        return None;
    }
    let destination_id = cursor.bytes(destination_len)?;
    let source_len = usize::from(cursor.byte()?);
    if source_len > MAX_CONNECTION_ID_LEN {
        return None;
    }
    cursor.bytes(source_len)?;

    match packet_type {
        PacketType::Retry => return None,
        PacketType::Initial => {
            let token_len = usize::try_from(cursor.varint()?).ok()?;
            cursor.bytes(token_len)?;
        }
        PacketType::ZeroRtt | PacketType::Handshake => {}
    }
    let length = usize::try_from(cursor.varint()?).ok()?;
    let packet_number_offset = cursor.position;
    let packet_len = packet_number_offset.checked_add(length)?;
    if packet_len > data.len() {
        return None;
    }
    Some(LongHeader {
        version,
        packet_type,
        destination_id,
        packet_number_offset,
        packet_len,
    })
}

struct Cursor<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> Cursor<'a> {
    fn is_empty(&self) -> bool {
        self.position >= self.data.len()
    }

    fn byte(&mut self) -> Option<u8> {
        let byte = *self.data.get(self.position)?;
        self.position += 1;
        Some(byte)
    }

    fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.position.checked_add(len)?;
        let bytes = self.data.get(self.position..end)?;
        self.position = end;
        Some(bytes)
    }

    /// Reads a variable-length integer (RFC 9000 section 16).
    fn varint(&mut self) -> Option<u64> {
        let first = self.byte()?;
        let extra = (1usize << (first >> 6)) - 1;
        let mut value = u64::from(first & 0x3f);
        for byte in self.bytes(extra)? {
            value = value << 8 | u64::from(*byte);
        }
        Some(value)
    }
}

/// Frame types allowed in Initial packets (RFC 9000 section 12.4).
mod frame_type {
    pub(super) const PADDING: u64 = 0x00;
    pub(super) const PING: u64 = 0x01;
    pub(super) const ACK: u64 = 0x02;
    pub(super) const ACK_ECN: u64 = 0x03;
    pub(super) const CRYPTO: u64 = 0x06;
    pub(super) const CONNECTION_CLOSE: u64 = 0x1c;
    pub(super) const CONNECTION_CLOSE_APPLICATION: u64 = 0x1d;
}

/// Passes the CRYPTO frames of a decrypted payload to `crypto`. Reading stops
/// at the first frame that may not appear in an Initial packet or does not parse.
fn read_frames(payload: &[u8], crypto: &mut CryptoStream) {
    let mut cursor = Cursor {
        data: payload,
        position: 0,
    };
    while !cursor.is_empty() {
        let read = match cursor.varint() {
            Some(frame_type::PADDING | frame_type::PING) => Some(()),
            Some(kind @ (frame_type::ACK | frame_type::ACK_ECN)) => skip_ack(&mut cursor, kind),
            Some(frame_type::CRYPTO) => read_crypto_frame(&mut cursor, crypto),
            Some(frame_type::CONNECTION_CLOSE) => skip_close(&mut cursor, true),
            Some(frame_type::CONNECTION_CLOSE_APPLICATION) => skip_close(&mut cursor, false),
            _ => None,
        };
        if read.is_none() {
            return;
        }
    }
}

fn skip_ack(cursor: &mut Cursor<'_>, kind: u64) -> Option<()> {
    cursor.varint()?; // largest acknowledged
    cursor.varint()?; // delay
    let ranges = cursor.varint()?;
    cursor.varint()?; // first range
    for _ in 0..ranges {
        cursor.varint()?; // gap
        cursor.varint()?; // range length
    }
    if kind == frame_type::ACK_ECN {
        for _ in 0..3 {
            cursor.varint()?;
        }
    }
    Some(())
}

fn skip_close(cursor: &mut Cursor<'_>, transport: bool) -> Option<()> {
    cursor.varint()?; // error code
    if transport {
        cursor.varint()?; // frame type
    }
    let reason_len = usize::try_from(cursor.varint()?).ok()?;
    cursor.bytes(reason_len)?;
    Some(())
}

fn read_crypto_frame(cursor: &mut Cursor<'_>, crypto: &mut CryptoStream) -> Option<()> {
    let offset = cursor.varint()?;
    let len = usize::try_from(cursor.varint()?).ok()?;
    let data = cursor.bytes(len)?;
    crypto.insert(offset, data);
    Some(())
}

/// The Initial CRYPTO stream of one connection, joined by offset.
#[derive(Debug, Default)]
struct CryptoStream {
    data: Vec<u8>,
    /// Received ranges `[start, end)`, sorted and merged.
    ranges: Vec<(usize, usize)>,
}

/// Progress of the ClientHello in the joined CRYPTO stream.
enum HelloProgress {
    NeedMore,
    Complete(Vec<Vec<u8>>),
    Malformed,
}

impl CryptoStream {
    /// Stores bytes at a stream offset; bytes past [`MAX_CRYPTO_LEN`] are dropped.
    fn insert(&mut self, offset: u64, bytes: &[u8]) {
        let Ok(start) = usize::try_from(offset) else {
            return;
        };
        if start >= MAX_CRYPTO_LEN || bytes.is_empty() {
            return;
        }
        // A real ClientHello arrives in a few frames close together: a frame far
        // past the joined part, or one more hole than any sender makes, is dropped.
        if start > self.contiguous_len() + MAX_CRYPTO_GAP || self.ranges.len() >= MAX_CRYPTO_RANGES
        {
            return;
        }
        let end = start.saturating_add(bytes.len()).min(MAX_CRYPTO_LEN);
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[start..end].copy_from_slice(&bytes[..end - start]);
        self.add_range(start, end);
    }

    /// Adds `[start, end)` to the sorted, merged ranges, touching only its neighbours.
    fn add_range(&mut self, start: usize, end: usize) {
        // First range that ends at or after `start`: it and those after it may merge.
        let first = self
            .ranges
            .partition_point(|&(_, range_end)| range_end < start);
        let mut merged = (start, end);
        let mut last = first;
        while let Some(&(range_start, range_end)) = self.ranges.get(last) {
            if range_start > merged.1 {
                break;
            }
            merged = (merged.0.min(range_start), merged.1.max(range_end));
            last += 1;
        }
        self.ranges.splice(first..last, [merged]);
    }

    /// Returns the length of the stream received without holes from offset 0.
    fn contiguous_len(&self) -> usize {
        match self.ranges.first() {
            Some(&(0, end)) => end,
            _ => 0,
        }
    }

    /// Reads the ClientHello once the stream contains all of it.
    fn client_hello(&self) -> HelloProgress {
        let available = self.contiguous_len();
        let Some(&[handshake_type, a, b, c]) = self.data.get(..4).filter(|_| available >= 4) else {
            return HelloProgress::NeedMore;
        };
        if handshake_type != HANDSHAKE_CLIENT_HELLO {
            return HelloProgress::Malformed;
        }
        let body_len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        if 4 + body_len > MAX_CRYPTO_LEN {
            return HelloProgress::Malformed;
        }
        if available < 4 + body_len {
            return HelloProgress::NeedMore;
        }
        match parse_client_hello(&self.data[4..4 + body_len]) {
            Ok(hello) => {
                HelloProgress::Complete(hello.server_names().map(<[u8]>::to_vec).collect())
            }
            Err(_) => HelloProgress::Malformed,
        }
    }
}

/// One client's Initial packets to one server.
struct Connection {
    version: QuicVersion,
    /// The Destination Connection ID the keys come from.
    initial_id: Vec<u8>,
    keys: Box<InitialKeys>,
    largest_packet_number: Option<u64>,
    crypto: CryptoStream,
    /// The ClientHello was read; later Initials are ignored.
    done: bool,
}

type ConnectionKey = (SocketAddr, SocketAddr);

/// Client Initial packets being joined into ClientHellos, across datagrams.
pub struct QuicInitials {
    connections: HashMap<ConnectionKey, Connection>,
    /// Keys in the order their connections were created, for eviction.
    order: VecDeque<ConnectionKey>,
    /// Connections tracked at once.
    max_connections: usize,
    pub stats: QuicStats,
}

impl Default for QuicInitials {
    fn default() -> Self {
        QuicInitials::with_max_connections(MAX_CONNECTIONS)
    }
}

impl std::fmt::Debug for QuicInitials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("QuicInitials")
            .field("connections", &self.connections.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl QuicInitials {
    /// Creates an empty table that tracks at most `max_connections` connections.
    pub fn with_max_connections(max_connections: usize) -> Self {
        QuicInitials {
            connections: HashMap::default(),
            order: VecDeque::new(),
            max_connections: max_connections.max(1),
            stats: QuicStats::default(),
        }
    }

    /// Reads the long header packets of one UDP datagram; returns the server
    /// names of every ClientHello this datagram completes.
    pub fn datagram(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        payload: &[u8],
    ) -> Vec<Vec<u8>> {
        let mut names = Vec::new();
        let mut rest = payload;
        // Coalesced packets follow each other; a short header packet can only come last.
        while let Some(header) = read_long_header(rest) {
            let (packet, after) = rest.split_at(header.packet_len);
            if header.packet_type == PacketType::Initial {
                self.initial_packet((source, destination), packet, &header, &mut names);
            }
            rest = after;
        }
        names
    }

    fn initial_packet(
        &mut self,
        key: ConnectionKey,
        packet: &[u8],
        header: &LongHeader<'_>,
        names: &mut Vec<Vec<u8>>,
    ) {
        let Some(payload) = self.decrypt(key, packet, header) else {
            return;
        };
        self.stats.initial_packets += 1;
        let Some(connection) = self.connections.get_mut(&key) else {
            return;
        };
        if connection.done {
            return;
        }
        read_frames(&payload, &mut connection.crypto);

        match connection.crypto.client_hello() {
            HelloProgress::NeedMore => {}
            HelloProgress::Complete(found) => {
                self.stats.client_hellos += 1;
                names.extend(found);
                connection.done = true;
                connection.crypto = CryptoStream::default();
            }
            HelloProgress::Malformed => {
                self.stats.malformed_client_hellos += 1;
                connection.done = true;
                connection.crypto = CryptoStream::default();
            }
        }
    }

    /// Decrypts a client Initial with the connection's keys or the keys of its
    /// own Destination Connection ID; the latter starts a new connection.
    fn decrypt(
        &mut self,
        key: ConnectionKey,
        packet: &[u8],
        header: &LongHeader<'_>,
    ) -> Option<Vec<u8>> {
        if let Some(connection) = self.connections.get_mut(&key) {
            if connection.version == header.version
                && connection.initial_id == header.destination_id
            {
                if connection.done {
                    return None;
                }
                return open_for(connection, packet, header);
            }
        }

        let keys = InitialKeys::client(header.version, header.destination_id)?;
        if let Some((packet_number, payload)) = keys.open(packet, header.packet_number_offset, None)
        {
            // A new connection on these addresses, or the client's retry after a Retry packet.
            self.insert(
                key,
                Connection {
                    version: header.version,
                    initial_id: header.destination_id.to_vec(),
                    keys: Box::new(keys),
                    largest_packet_number: Some(packet_number),
                    crypto: CryptoStream::default(),
                    done: false,
                },
            );
            return Some(payload);
        }

        // A later Initial sent to the Connection ID the server chose: the keys stay the first ones.
        let connection = self.connections.get_mut(&key)?;
        if connection.done || connection.version != header.version {
            return None;
        }
        open_for(connection, packet, header)
    }

    // NOTE: eviction is first in, first out: a sender that opens more than
    // `max_connections` connections between two Initials of one ClientHello
    // evicts it, and that server name is lost.
    fn insert(&mut self, key: ConnectionKey, connection: Connection) {
        if self.connections.insert(key, connection).is_some() {
            return;
        }
        self.order.push_back(key);
        while self.connections.len() > self.max_connections {
            let Some(oldest) = self.order.pop_front() else {
                return;
            };
            if let Some(evicted) = self.connections.remove(&oldest) {
                if !evicted.done {
                    self.stats.evicted_connections += 1;
                }
            }
        }
    }
}

fn open_for(
    connection: &mut Connection,
    packet: &[u8],
    header: &LongHeader<'_>,
) -> Option<Vec<u8>> {
    let (packet_number, payload) = connection.keys.open(
        packet,
        header.packet_number_offset,
        connection.largest_packet_number,
    )?;
    connection.largest_packet_number = connection.largest_packet_number.max(Some(packet_number));
    Some(payload)
}

#[cfg(test)]
mod tests;
