//! HTTP/1.x request heads: the request line, the first Host header and the
//! body framing, and the full URI built from them.
//!
//! httparse reads the common case. Requests it rejects but a server would
//! still act on (a version other than 1.0 or 1.1, a request line without a
//! version followed by header lines, a space before a header colon, bytes
//! outside ASCII in the target, more than [`HTTPARSE_MAX_HEADERS`] headers)
//! go through a lenient parser of our own.

use std::net::SocketAddr;

/// Headers httparse is given room for; a request with more goes to the lenient parser.
pub const HTTPARSE_MAX_HEADERS: usize = 100;

/// Framing of the body after a request head (RFC 9112 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    ContentLength(u64),
    Chunked,
}

/// A parsed request head, borrowing from the stream bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub method: &'a [u8],
    /// Request target as sent; empty when the request line has only a method.
    pub target: &'a [u8],
    /// The value of the first Host header, outer whitespace trimmed.
    pub host: Option<&'a [u8]>,
    pub body: BodyFraming,
    /// The request line ends in `HTTP/d.d` (or in a prefix of it, when a snap length cut the line).
    pub has_version: bool,
}

/// Result of looking for a request head at the start of `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadStatus<'a> {
    /// The bytes so far could start a request; more are needed.
    Incomplete,
    /// The bytes do not start an HTTP request.
    NotHttp,
    /// A request head of `len` bytes, including its blank line.
    Complete { head: RequestHead<'a>, len: usize },
}

/// Parses a request head at the start of `data`.
///
/// With `at_end` set no more bytes will come (a UDP datagram, or a stream cut
/// by a gap), so a head without its blank line is parsed as it is.
pub fn parse_request_head(data: &[u8], at_end: bool) -> HeadStatus<'_> {
    if !starts_like_request(data) || is_http2_preface(data) {
        return HeadStatus::NotHttp;
    }

    let mut headers = [httparse::EMPTY_HEADER; HTTPARSE_MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    if let Ok(httparse::Status::Complete(len)) = request.parse(data) {
        let target = request.path.unwrap_or_default().as_bytes();
        let method = request.method.unwrap_or_default().as_bytes();
        let mut host = None;
        let mut content_length = None;
        let mut chunked = false;
        for header in request.headers.iter() {
            read_header(
                header.name.as_bytes(),
                header.value,
                &mut host,
                &mut content_length,
                &mut chunked,
            );
        }
        let head = RequestHead {
            method,
            target,
            host,
            body: framing(content_length, chunked),
            has_version: true,
        };
        return HeadStatus::Complete { head, len };
    }
    parse_lenient(data, at_end)
}

/// Returns true for the HTTP/2 connection preface (RFC 9113 section 3.4). It looks
/// like a request line but starts HTTP/2 frames, which are not reported.
pub fn is_http2_preface(data: &[u8]) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let len = data.len().min(PREFACE.len());
    len >= 4 && data[..len] == PREFACE[..len]
}

/// Returns false as soon as the first bytes cannot begin a request line.
fn starts_like_request(data: &[u8]) -> bool {
    let method_len = data.iter().take_while(|&&b| is_token(b)).count();
    match data.get(method_len) {
        None => method_len > 0 || data.is_empty(),
        Some(b' ' | b'\r' | b'\n') => method_len > 0,
        Some(_) => false,
    }
}

/// RFC 9110 token characters.
fn is_token(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn read_header<'a>(
    name: &[u8],
    value: &'a [u8],
    host: &mut Option<&'a [u8]>,
    content_length: &mut Option<u64>,
    chunked: &mut bool,
) {
    if name.eq_ignore_ascii_case(b"host") {
        host.get_or_insert(value.trim_ascii());
    } else if name.eq_ignore_ascii_case(b"content-length") {
        let parsed = std::str::from_utf8(value.trim_ascii())
            .ok()
            .and_then(|v| v.parse().ok());
        if content_length.is_none() {
            *content_length = parsed;
        }
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
        *chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
    }
}

fn framing(content_length: Option<u64>, chunked: bool) -> BodyFraming {
    if chunked {
        BodyFraming::Chunked
    } else {
        match content_length {
            Some(len) if len > 0 => BodyFraming::ContentLength(len),
            _ => BodyFraming::None,
        }
    }
}

/// Splits off one line ending in LF; returns the line without CR LF and the rest.
fn next_line(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = data.iter().position(|&b| b == b'\n')?;
    let line = &data[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, &data[end + 1..]))
}

/// Splits a header line (a token, optional blanks, then a colon) into name and value.
fn split_header_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let name_len = line.iter().take_while(|&&b| is_token(b)).count();
    if name_len == 0 {
        return None;
    }
    let rest = &line[name_len..];
    let blanks = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let value = rest[blanks..].strip_prefix(b":")?;
    Some((&line[..name_len], value))
}

/// Returns true when an unfinished line is the start of a Host header (name, or name and colon).
fn is_host_line_start(partial: &[u8]) -> bool {
    let name_len = partial.iter().take_while(|&&b| is_token(b)).count();
    let name = &partial[..name_len];
    let rest = &partial[name_len..];
    let blanks = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let complete_name =
        name.eq_ignore_ascii_case(b"host") && matches!(rest.get(blanks), None | Some(b':'));
    let name_prefix = rest.is_empty()
        && !name.is_empty()
        && name.len() < 4
        && b"host"[..name.len()].eq_ignore_ascii_case(name);
    complete_name || name_prefix
}

/// Returns true when an unfinished line may still become a header line.
fn could_start_header_line(partial: &[u8]) -> bool {
    let name_len = partial.iter().take_while(|&&b| is_token(b)).count();
    let rest = &partial[name_len..];
    let blanks = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    match rest.get(blanks) {
        None => true,
        Some(b':') => name_len > 0,
        Some(_) => false,
    }
}

/// Splits a request line into method, target and whether it ends in an HTTP version.
fn split_request_line(line: &[u8]) -> Option<(&[u8], &[u8], bool)> {
    let method_len = line.iter().take_while(|&&b| is_token(b)).count();
    let method = &line[..method_len];
    let rest = &line[method_len..];
    if method.is_empty() {
        return None;
    }
    if rest.is_empty() {
        return Some((method, b"", false));
    }
    let rest = rest.strip_prefix(b" ")?;
    match rest.iter().rposition(|&b| b == b' ') {
        Some(space) if is_http_version(&rest[space + 1..]) => Some((method, &rest[..space], true)),
        Some(_) => None,
        None => Some((method, rest, false)),
    }
}

/// `HTTP/d.d`, as RFC 9112 writes the version.
fn is_http_version(text: &[u8]) -> bool {
    matches!(text, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// Reads a request line cut inside its version, as a short snap length leaves
/// it: the target is whole because a space ended it.
fn cut_request_line(data: &[u8]) -> HeadStatus<'_> {
    let line = data.strip_suffix(b"\r").unwrap_or(data);
    let Some(space) = line.iter().rposition(|&b| b == b' ') else {
        return HeadStatus::NotHttp;
    };
    let (start, version) = (&line[..space], &line[space + 1..]);
    if !is_http_version_prefix(version) {
        return HeadStatus::NotHttp;
    }
    match split_request_line(start) {
        Some((method, target, false)) if !target.is_empty() => HeadStatus::Complete {
            head: RequestHead {
                method,
                target,
                host: None,
                body: BodyFraming::None,
                has_version: true,
            },
            len: data.len(),
        },
        _ => HeadStatus::NotHttp,
    }
}

/// Returns true for a non-empty prefix of `HTTP/d.d`.
fn is_http_version_prefix(text: &[u8]) -> bool {
    const PATTERN: &[u8] = b"HTTP/0.0";
    !text.is_empty()
        && text.len() <= PATTERN.len()
        && text.iter().zip(PATTERN).all(|(&b, &p)| {
            if p == b'0' {
                b.is_ascii_digit()
            } else {
                b == p
            }
        })
}

/// Reads a request head byte by byte, accepting what strict parsers reject.
fn parse_lenient(data: &[u8], at_end: bool) -> HeadStatus<'_> {
    let Some((line, mut rest)) = next_line(data) else {
        if !at_end && data.len() <= super::MAX_HEAD_LEN {
            return HeadStatus::Incomplete;
        }
        return cut_request_line(data);
    };
    let Some((method, target, has_version)) = split_request_line(line) else {
        return HeadStatus::NotHttp;
    };

    let mut host = None;
    let mut content_length = None;
    let mut chunked = false;
    let mut header_lines = 0usize;
    let complete_len = loop {
        let Some((line, after)) = next_line(rest) else {
            if !has_version && header_lines == 0 && !could_start_header_line(rest) {
                return HeadStatus::NotHttp;
            }
            // The head has not ended. Parse it as it is only when nothing more comes.
            if !at_end && data.len() <= super::MAX_HEAD_LEN {
                return HeadStatus::Incomplete;
            }
            // A Host line cut in the middle hides the authority: report nothing rather than guess.
            if host.is_none() && is_host_line_start(rest) {
                return HeadStatus::NotHttp;
            }
            break data.len();
        };
        if line.is_empty() {
            if !has_version && header_lines == 0 {
                return HeadStatus::NotHttp;
            }
            break data.len() - after.len();
        }
        if let Some((name, value)) = split_header_line(line) {
            header_lines += 1;
            read_header(name, value, &mut host, &mut content_length, &mut chunked);
        } else if header_lines == 0
            && !has_version
            && !line.starts_with(b" ")
            && !line.starts_with(b"\t")
        {
            // A versionless request line counts only when header lines follow it.
            return HeadStatus::NotHttp;
        }
        rest = after;
    };
    if !has_version && header_lines == 0 {
        return HeadStatus::NotHttp;
    }
    let head = RequestHead {
        method,
        target,
        host,
        body: framing(content_length, chunked),
        has_version,
    };
    HeadStatus::Complete {
        head,
        len: complete_len,
    }
}

/// Builds the full URI of a request as the product reports it.
///
/// `https` selects the scheme and its default port; `server` gives the
/// authority when the Host header is missing or empty.
pub fn request_uri(head: &RequestHead<'_>, server: SocketAddr, https: bool) -> String {
    let target = head.target;
    let mut uri = String::with_capacity(target.len() + 32);
    if has_scheme(target) || is_authority_form(target) {
        push_escaped(&mut uri, target);
        return uri;
    }
    uri.push_str(if https { "https://" } else { "http://" });
    match head.host {
        Some(host) if !host.is_empty() => push_escaped(&mut uri, host),
        _ => push_server_authority(&mut uri, server, https),
    }
    push_escaped(&mut uri, target);
    uri
}

/// Absolute form: `scheme://...` with an RFC 3986 scheme.
fn has_scheme(target: &[u8]) -> bool {
    let scheme_len = target
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        .count();
    scheme_len > 0 && target[0].is_ascii_alphabetic() && target[scheme_len..].starts_with(b"://")
}

/// Authority form, as CONNECT sends it: `host:port` with no slash.
fn is_authority_form(target: &[u8]) -> bool {
    let Some(colon) = target.iter().rposition(|&b| b == b':') else {
        return false;
    };
    let port = &target[colon + 1..];
    colon > 0 && !port.is_empty() && port.iter().all(u8::is_ascii_digit) && !target.contains(&b'/')
}

fn push_server_authority(uri: &mut String, server: SocketAddr, https: bool) {
    use std::fmt::Write;
    let default_port = if https { 443 } else { 80 };
    let _ = match server {
        SocketAddr::V4(v4) => write!(uri, "{}", v4.ip()),
        SocketAddr::V6(v6) => write!(uri, "[{}]", v6.ip()),
    };
    if server.port() != default_port {
        let _ = write!(uri, ":{}", server.port());
    }
}

/// Appends bytes, writing those outside printable ASCII as `%XX`.
fn push_escaped(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in bytes {
        if (0x21..=0x7e).contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

/// Progress through a chunked body (RFC 9112 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkState {
    /// Reading a chunk-size line; `digits` seen so far.
    Size {
        size: u64,
        digits: u8,
        in_extension: bool,
    },
    /// Skipping chunk data, then its CRLF.
    Data(u64),
    /// Skipping the CRLF after chunk data.
    DataEnd {
        seen_cr: bool,
    },
    /// Reading trailer lines until an empty one; `line_len` bytes of the current line seen.
    Trailer {
        line_len: usize,
    },
    Done,
    /// The framing broke; the caller resynchronises.
    Invalid,
}

impl ChunkState {
    /// Starts a chunked body.
    pub fn start() -> Self {
        ChunkState::Size {
            size: 0,
            digits: 0,
            in_extension: false,
        }
    }

    /// Consumes body bytes; returns how many were used. Stops at `Done` or `Invalid`.
    pub fn advance(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        while used < data.len() {
            match *self {
                ChunkState::Done | ChunkState::Invalid => break,
                ChunkState::Data(left) => {
                    let take = left.min((data.len() - used) as u64);
                    used += take as usize;
                    *self = if take == left {
                        ChunkState::DataEnd { seen_cr: false }
                    } else {
                        ChunkState::Data(left - take)
                    };
                }
                _ => {
                    self.step(data[used]);
                    used += 1;
                }
            }
        }
        used
    }

    fn step(&mut self, byte: u8) {
        *self = match *self {
            ChunkState::Size {
                size,
                digits,
                in_extension,
            } => match byte {
                b'\n' if digits == 0 => ChunkState::Invalid,
                b'\n' if size == 0 => ChunkState::Trailer { line_len: 0 },
                b'\n' => ChunkState::Data(size),
                b'\r' => ChunkState::Size {
                    size,
                    digits,
                    in_extension,
                },
                _ if in_extension => ChunkState::Size {
                    size,
                    digits,
                    in_extension,
                },
                b';' | b' ' | b'\t' => ChunkState::Size {
                    size,
                    digits,
                    in_extension: true,
                },
                _ => match (char::from(byte).to_digit(16), digits < 16) {
                    (Some(value), true) => ChunkState::Size {
                        size: size * 16 + u64::from(value),
                        digits: digits + 1,
                        in_extension,
                    },
                    _ => ChunkState::Invalid,
                },
            },
            ChunkState::DataEnd { seen_cr } => match byte {
                b'\r' if !seen_cr => ChunkState::DataEnd { seen_cr: true },
                b'\n' => ChunkState::start(),
                _ => ChunkState::Invalid,
            },
            ChunkState::Trailer { line_len } => match byte {
                b'\n' if line_len == 0 => ChunkState::Done,
                b'\n' => ChunkState::Trailer { line_len: 0 },
                b'\r' => ChunkState::Trailer { line_len },
                _ => ChunkState::Trailer {
                    line_len: line_len + 1,
                },
            },
            state => state,
        };
    }
}

#[cfg(test)]
mod tests;
