//! Capture reading: classic pcap and pcapng, streamed from any `Read`.
//!
//! The reader hands out one [`Packet`] at a time, borrowing the frame bytes
//! from its buffer, so memory stays bounded by the largest record.

mod chunks;
mod reader;
mod resync;

pub(crate) use chunks::{Chunk, Framed, FramedPacket, Framer, MoreBytes};
pub use reader::{
    CaptureError, CaptureErrorKind, CaptureFormat, CaptureReader, Packet, Recovery, MAX_RECORD_LEN,
};

/// Link-layer header types (LINKTYPE_* values of the tcpdump registry).
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const PPP: u32 = 9;
    pub const FDDI: u32 = 10;
    pub const RAW_OPENBSD: u32 = 12;
    pub const RAW_BSDOS: u32 = 14;
    pub const PPP_HDLC: u32 = 50;
    pub const PPP_ETHER: u32 = 51;
    pub const RAW: u32 = 101;
    pub const IEEE802_11: u32 = 105;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IEEE802_11_RADIOTAP: u32 = 127;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const NFLOG: u32 = 239;
    pub const LINUX_SLL2: u32 = 276;
}
