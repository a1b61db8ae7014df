//! The bounded DICOM header parser (PS3.5 §7 data set encoding, PS3.10 §7 file format).
//!
//! Every declared length is checked against what remains of the file before anything is read
//! or allocated; sequences are limited in depth and data sets in element count; deflated data
//! sets are inflated as a stream with a cap. A file that breaks these rules yields what was
//! read up to that point plus a [`Problem`], never a panic or an unbounded read.

use super::tags::*;
use super::{
    dictionary_vr, DicomHeader, Element, Encoding, PixelDataInfo, Problem, SyntaxSource, Value, Vr,
};
use dicom_encoding::text::{SpecificCharacterSet, TextCodec};
use flate2::read::DeflateDecoder;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::Path;

/// Bounds applied to one file's parse.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Nesting depth of sequences.
    pub max_depth: usize,
    /// Elements in the whole header, at any depth.
    pub max_elements: usize,
    /// Bytes of a text value that are kept (the rest is skipped and the text marked `…`).
    pub max_text: usize,
    /// Binary values up to this size are kept whole; larger ones become [`Value::Bulk`].
    pub inline_binary: usize,
    /// Numeric binary values (US, FL, ...) up to this many bytes are decoded.
    pub max_numeric_bytes: usize,
    /// Bytes inflated at most from a deflated data set.
    pub max_inflated: u64,
    /// Value bytes kept at most for the whole header.
    pub max_kept_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 24,
            max_elements: 100_000,
            max_text: 64 * 1024,
            inline_binary: 64,
            max_numeric_bytes: 4096,
            max_inflated: 64 * 1024 * 1024,
            max_kept_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why a file could not be read as DICOM at all.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    #[error("not a DICOM file")]
    NotDicom,
    #[error("corrupt DICOM: {0}")]
    Corrupt(String),
}

enum Src<'a> {
    File(BufReader<File>),
    Mem(Cursor<&'a [u8]>),
    InflateFile(Box<DeflateDecoder<BufReader<File>>>),
    InflateMem(Box<DeflateDecoder<Cursor<&'a [u8]>>>),
    Taken,
}

/// A byte source with a position, an optional known end and cheap skips.
struct Input<'a> {
    src: Src<'a>,
    pos: u64,
    end: Option<u64>,
    /// Bytes read ahead by a peek.
    pushback: Vec<u8>,
    inflate_cap: u64,
}

/// The parse stopped: the file ended early, or it is malformed beyond this point.
enum Stop {
    Truncated(String),
    Corrupt(String),
    Io(io::Error),
}

type PResult<T> = Result<T, Stop>;

impl<'a> Input<'a> {
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        if !self.pushback.is_empty() {
            let k = self.pushback.len().min(buf.len());
            buf[..k].copy_from_slice(&self.pushback[..k]);
            self.pushback.drain(..k);
            n = k;
        }
        while n < buf.len() {
            let r = match &mut self.src {
                Src::File(r) => r.read(&mut buf[n..]),
                Src::Mem(r) => r.read(&mut buf[n..]),
                Src::InflateFile(r) => r.read(&mut buf[n..]),
                Src::InflateMem(r) => r.read(&mut buf[n..]),
                Src::Taken => Ok(0),
            };
            match r {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.pos += n as u64;
        Ok(n)
    }

    /// Reads exactly `buf.len()` bytes; a short read is a truncation.
    fn need(&mut self, buf: &mut [u8], what: &str) -> PResult<()> {
        if let Some(end) = self.end {
            let remaining = end.saturating_sub(self.pos);
            if (buf.len() as u64) > remaining {
                return Err(Stop::Truncated(format!(
                    "{what} at byte {} needs {} bytes but the file ends after {remaining}",
                    self.pos,
                    buf.len()
                )));
            }
        }
        let at = self.pos;
        let n = self.read_some(buf).map_err(Stop::Io)?;
        if n < buf.len() {
            return Err(Stop::Truncated(format!(
                "{what} at byte {at} needs {} bytes but the data ends after {n}",
                buf.len()
            )));
        }
        self.check_inflate_cap()
    }

    fn check_inflate_cap(&self) -> PResult<()> {
        if self.end.is_none() && self.pos > self.inflate_cap {
            return Err(Stop::Corrupt(format!(
                "deflated data set inflates beyond {} bytes before Pixel Data",
                self.inflate_cap
            )));
        }
        Ok(())
    }

    /// Checks that a declared length fits in what remains, before reading or skipping it.
    fn check_len(&self, len: u64, tag: u32) -> PResult<()> {
        if let Some(end) = self.end {
            let remaining = end.saturating_sub(self.pos);
            if len > remaining {
                return Err(Stop::Truncated(format!(
                    "element {} declares {len} bytes at byte {} but only {remaining} remain",
                    super::tag_string(tag),
                    self.pos
                )));
            }
        }
        Ok(())
    }

    fn skip(&mut self, n: u64) -> PResult<()> {
        let mut n = n;
        if !self.pushback.is_empty() {
            let k = (self.pushback.len() as u64).min(n) as usize;
            self.pushback.drain(..k);
            self.pos += k as u64;
            n -= k as u64;
        }
        if n == 0 {
            return Ok(());
        }
        // Inflating: go at most one byte past the cap, so a bomb stops there.
        let room = match self.end {
            None => self.inflate_cap.saturating_sub(self.pos).saturating_add(1),
            Some(_) => u64::MAX,
        };
        let skipped = match &mut self.src {
            Src::File(r) => i64::try_from(n)
                .map_err(|_| io::Error::other("skip too large"))
                .and_then(|k| r.seek_relative(k))
                .map(|_| n),
            Src::Mem(r) => {
                let p = r.position().saturating_add(n);
                r.set_position(p);
                Ok(n)
            }
            Src::InflateFile(r) => io::copy(&mut r.by_ref().take(n.min(room)), &mut io::sink()),
            Src::InflateMem(r) => io::copy(&mut r.by_ref().take(n.min(room)), &mut io::sink()),
            Src::Taken => Ok(0),
        }
        .map_err(Stop::Io)?;
        self.pos += skipped;
        self.check_inflate_cap()?;
        if skipped < n {
            return Err(Stop::Truncated(format!(
                "data ends inside a value at byte {}",
                self.pos
            )));
        }
        self.check_inflate_cap()
    }

    /// Looks at the next bytes without consuming them; returns how many were available.
    fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_some(buf)?;
        self.pos -= n as u64;
        let mut p = buf[..n].to_vec();
        p.extend_from_slice(&self.pushback);
        self.pushback = p;
        Ok(n)
    }

    /// Switches to inflating the rest of the stream (deflated explicit VR little endian).
    fn start_inflate(&mut self) {
        let src = std::mem::replace(&mut self.src, Src::Taken);
        // Pushed-back bytes belong to the compressed stream: put them back in front.
        let pending = std::mem::take(&mut self.pushback);
        self.src = match src {
            Src::File(mut r) => {
                if !pending.is_empty() {
                    let _ = r.seek_relative(-(pending.len() as i64));
                }
                Src::InflateFile(Box::new(DeflateDecoder::new(r)))
            }
            Src::Mem(mut r) => {
                let p = r.position().saturating_sub(pending.len() as u64);
                r.set_position(p);
                Src::InflateMem(Box::new(DeflateDecoder::new(r)))
            }
            other => other,
        };
        self.end = None;
        self.inflate_cap = self.pos.saturating_add(self.inflate_cap);
    }
}

/// Whether these first bytes of a file look like DICOM (Part 10 or a bare data set).
pub fn looks_like_dicom(head: &[u8]) -> bool {
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return true;
    }
    if head.len() >= 4 && &head[0..4] == b"DICM" {
        return true;
    }
    head.len() >= 8 && guess_encoding(head, Certainty::Sniff).is_some()
}

/// How sure the caller already is that the bytes are a DICOM data set.
#[derive(Clone, Copy, PartialEq)]
enum Certainty {
    /// Content sniffing of an arbitrary file: only the usual first groups count.
    Sniff,
    /// A file without meta group: a few more first groups are accepted.
    Bare,
    /// After a file meta group: the data set is there, only its encoding is unknown.
    AfterMeta,
}

/// Infers the encoding of a data set from its first element (PS3.5 §7.1).
fn guess_encoding(b: &[u8], certainty: Certainty) -> Option<Encoding> {
    if b.len() < 8 {
        return None;
    }
    let g_le = u16::from_le_bytes([b[0], b[1]]);
    let g_be = u16::from_be_bytes([b[0], b[1]]);
    let vr = Vr([b[4], b[5]]);
    // A data set normally starts with group 0008 (identification); files written without a
    // meta group sometimes start with the meta group or with 0010/0018/0020/0028.
    let plausible = |g: u16| match certainty {
        Certainty::Sniff => matches!(g, 0x0002 | 0x0008),
        Certainty::Bare => matches!(g, 0x0002 | 0x0008 | 0x0010 | 0x0018 | 0x0020 | 0x0028),
        Certainty::AfterMeta => g < 0x7FE1,
    };
    // The byte order that makes the first group number smaller is the likely one.
    let big_endian = g_be < g_le;
    let group = g_le.min(g_be);
    if vr.is_known() && plausible(group) {
        return Some(Encoding {
            explicit_vr: true,
            big_endian,
            deflated: false,
        });
    }
    if plausible(g_le) {
        let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        if len < 0x0100_0000 || len == u32::MAX {
            return Some(Encoding {
                explicit_vr: false,
                big_endian: false,
                deflated: false,
            });
        }
    }
    None
}

/// Encoding implied by a transfer syntax UID; `None` for UIDs not in PS3.5 / PS3.6 Annex A.
fn encoding_of(ts: &str) -> Option<Encoding> {
    let e = |explicit_vr, big_endian, deflated| {
        Some(Encoding {
            explicit_vr,
            big_endian,
            deflated,
        })
    };
    match ts {
        "1.2.840.10008.1.2" => e(false, false, false),
        "1.2.840.10008.1.2.2" => e(true, true, false),
        "1.2.840.10008.1.2.1.99" | "1.2.840.10008.1.2.8.1" => e(true, false, true),
        t if t == "1.2.840.10008.1.2.1"
            || t.starts_with("1.2.840.10008.1.2.4.")
            || t.starts_with("1.2.840.10008.1.2.5")
            || t.starts_with("1.2.840.10008.1.2.6.")
            || t.starts_with("1.2.840.10008.1.2.7.")
            || t.starts_with("1.2.840.10008.1.2.8.")
            || t == "1.2.840.10008.1.2.1.98"
            || t.starts_with("1.2.840.113619.5.2") =>
        {
            e(true, false, false)
        }
        _ => None,
    }
}

fn syntax_name(enc: Encoding) -> &'static str {
    match (enc.explicit_vr, enc.big_endian, enc.deflated) {
        (false, _, _) => "1.2.840.10008.1.2",
        (true, true, _) => "1.2.840.10008.1.2.2",
        (true, false, true) => "1.2.840.10008.1.2.1.99",
        (true, false, false) => "1.2.840.10008.1.2.1",
    }
}

/// Reads the header of the DICOM file at `path` (opened read-only), stopping at Pixel Data.
pub fn read_header(path: &Path, limits: &Limits) -> Result<DicomHeader, HeaderError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let reader = BufReader::with_capacity(16 * 1024, file);
    parse(Src::File(reader), size, limits)
}

/// Reads the header from a file the caller already opened (read-only) and measured.
pub fn read_header_file(
    file: File,
    size: u64,
    limits: &Limits,
) -> Result<DicomHeader, HeaderError> {
    let reader = BufReader::with_capacity(16 * 1024, file);
    parse(Src::File(reader), size, limits)
}

/// Parses a header from bytes already in memory.
pub fn read_header_from(bytes: &[u8], limits: &Limits) -> Result<DicomHeader, HeaderError> {
    parse(Src::Mem(Cursor::new(bytes)), bytes.len() as u64, limits)
}

struct Parser<'l> {
    limits: &'l Limits,
    enc: Encoding,
    charset: Option<SpecificCharacterSet>,
    count: usize,
    kept: usize,
    problems: Vec<Problem>,
    suppressed: usize,
}

fn parse(src: Src<'_>, size: u64, limits: &Limits) -> Result<DicomHeader, HeaderError> {
    let mut input = Input {
        src,
        pos: 0,
        end: Some(size),
        pushback: Vec::new(),
        inflate_cap: limits.max_inflated,
    };
    let mut head = [0u8; 132];
    let n = input.peek(&mut head)?;
    let head = &head[..n];
    let mut problems = Vec::new();
    let preamble = n >= 132 && &head[128..132] == b"DICM";
    let bare_dicm = !preamble && n >= 4 && &head[0..4] == b"DICM";
    let mut meta = Vec::new();
    let mut p = Parser {
        limits,
        enc: Encoding {
            explicit_vr: true,
            big_endian: false,
            deflated: false,
        },
        charset: None,
        count: 0,
        kept: 0,
        problems: Vec::new(),
        suppressed: 0,
    };
    if preamble || bare_dicm {
        let skip = if preamble { 132 } else { 4 };
        if bare_dicm {
            problems.push(problem(
                "file.no_preamble",
                "no 128-byte preamble before DICM",
            ));
        }
        input
            .skip(skip)
            .map_err(|_| HeaderError::Corrupt("file ends inside the preamble".into()))?;
        match p.read_meta(&mut input) {
            Ok(m) => meta = m,
            Err(stop) => {
                return Err(match stop {
                    Stop::Io(e) => HeaderError::Io(e),
                    Stop::Truncated(m) | Stop::Corrupt(m) => {
                        HeaderError::Corrupt(format!("file meta information: {m}"))
                    }
                })
            }
        }
        if meta.is_empty() {
            problems.push(problem(
                "file.no_meta",
                "DICM marker present but no file meta information group follows",
            ));
        }
    } else {
        if n < 8 || guess_encoding(head, Certainty::Bare).is_none() {
            return Err(HeaderError::NotDicom);
        }
        problems.push(problem(
            "file.no_meta",
            "no preamble and no file meta information (a bare data set)",
        ));
    }

    let declared_ts = meta
        .iter()
        .find(|e| e.tag == TRANSFER_SYNTAX_UID)
        .and_then(|e| e.text())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .filter(|s| !s.is_empty());

    // What the first data set element looks like, to check or replace the declared syntax.
    let mut first = [0u8; 8];
    let avail = input.peek(&mut first)?;
    let certainty = if meta.is_empty() {
        Certainty::Bare
    } else {
        Certainty::AfterMeta
    };
    let guessed = guess_encoding(&first[..avail], certainty);
    let (ts, source, enc) = match declared_ts.as_deref().map(|t| (t, encoding_of(t))) {
        Some((t, Some(enc))) => {
            let mut enc_used = enc;
            if !enc.deflated {
                if let Some(g) = guessed {
                    if g.explicit_vr != enc.explicit_vr || g.big_endian != enc.big_endian {
                        problems.push(problem(
                            "meta.transfer_syntax_mismatch",
                            format!(
                                "transfer syntax {t} does not match the data set's encoding ({})",
                                describe(g)
                            ),
                        ));
                        enc_used = g;
                    }
                }
            }
            (t.to_string(), SyntaxSource::Meta, enc_used)
        }
        Some((t, None)) => {
            problems.push(problem(
                "meta.unknown_transfer_syntax",
                format!("unknown transfer syntax UID {t}"),
            ));
            let g = guessed
                .ok_or_else(|| HeaderError::Corrupt(format!("unknown transfer syntax {t}")))?;
            (t.to_string(), SyntaxSource::Meta, g)
        }
        None => {
            if !meta.is_empty() {
                problems.push(problem(
                    "meta.no_transfer_syntax",
                    "file meta information has no Transfer Syntax UID (0002,0010)",
                ));
            }
            match guessed {
                Some(g) => (syntax_name(g).to_string(), SyntaxSource::Inferred, g),
                None if avail == 0 => (
                    syntax_name(p.enc).to_string(),
                    SyntaxSource::Inferred,
                    p.enc,
                ),
                None => {
                    return Err(HeaderError::Corrupt(
                        "cannot infer the data set's encoding".into(),
                    ))
                }
            }
        }
    };
    p.enc = enc;
    if enc.deflated {
        input.start_inflate();
    }

    let mut pixel = None;
    let mut truncated = false;
    let elements = match p.read_dataset(&mut input, 0, None, &mut pixel) {
        Ok(list) => list,
        Err((list, stop)) => {
            match stop {
                Stop::Truncated(m) => {
                    truncated = true;
                    p.problems.push(problem("file.truncated", m));
                }
                Stop::Corrupt(m) => p.problems.push(problem("file.corrupt", m)),
                // The decoder's errors describe the file's content, not the disk.
                Stop::Io(e) if enc.deflated && e.kind() == io::ErrorKind::UnexpectedEof => {
                    truncated = true;
                    p.problems
                        .push(problem("file.truncated", format!("deflated data set: {e}")));
                }
                Stop::Io(e) if enc.deflated && e.kind() == io::ErrorKind::InvalidInput => {
                    p.problems
                        .push(problem("file.corrupt", format!("deflated data set: {e}")));
                }
                Stop::Io(e) => {
                    if list.is_empty() {
                        return Err(HeaderError::Io(e));
                    }
                    p.problems
                        .push(problem("file.read_error", format!("read error: {e}")));
                }
            }
            list
        }
    };
    if elements.is_empty() && meta.is_empty() {
        return Err(match p.problems.pop() {
            Some(pr) => HeaderError::Corrupt(pr.message),
            None => HeaderError::NotDicom,
        });
    }
    // A bare data set must look like one: at least two elements in ascending order.
    if !preamble && !bare_dicm && (elements.len() < 2 || elements[0].tag > elements[1].tag) {
        return Err(HeaderError::NotDicom);
    }

    let mut trailing = 0;
    if let Some(px) = &pixel {
        if let (Some(len), false) = (px.length, enc.deflated) {
            let end = px.offset.saturating_add(len);
            if end > size {
                truncated = true;
                p.problems.push(problem(
                    "file.truncated",
                    format!(
                        "Pixel Data declares {len} bytes but the file ends {} bytes early",
                        end - size
                    ),
                ));
            } else {
                trailing = size - end;
            }
        }
    }
    if p.suppressed > 0 {
        p.problems.push(problem(
            "file.more_problems",
            format!("{} more problems not listed", p.suppressed),
        ));
    }
    problems.append(&mut p.problems);
    Ok(DicomHeader {
        file_size: size,
        preamble,
        meta,
        elements,
        transfer_syntax: ts,
        syntax_source: source,
        encoding: enc,
        pixel_data: pixel,
        trailing_bytes: trailing,
        truncated,
        problems,
    })
}

fn describe(e: Encoding) -> &'static str {
    match (e.explicit_vr, e.big_endian) {
        (true, false) => "explicit VR little endian",
        (true, true) => "explicit VR big endian",
        (false, false) => "implicit VR little endian",
        (false, true) => "implicit VR big endian",
    }
}

fn problem(code: &'static str, message: impl Into<String>) -> Problem {
    Problem {
        code,
        message: message.into(),
    }
}

/// Problems kept per file; past this they are only counted (a hostile file can have millions).
const MAX_PROBLEMS: usize = 64;

impl Parser<'_> {
    fn note(&mut self, p: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.suppressed += 1;
        }
    }

    /// Reads the file meta group: explicit VR little endian elements of group 0002.
    fn read_meta(&mut self, input: &mut Input<'_>) -> PResult<Vec<Element>> {
        let saved = self.enc;
        self.enc = Encoding {
            explicit_vr: true,
            big_endian: false,
            deflated: false,
        };
        let mut out = Vec::new();
        loop {
            let mut g = [0u8; 2];
            if input.peek(&mut g).map_err(Stop::Io)? < 2 || u16::from_le_bytes(g) != 0x0002 {
                break;
            }
            let mut pixel = None;
            match self.read_element(input, 0, &mut pixel)? {
                Some(e) => out.push(e),
                None => break,
            }
        }
        self.enc = saved;
        Ok(out)
    }

    fn u16(&self, b: [u8; 2]) -> u16 {
        if self.enc.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }
    fn u32(&self, b: [u8; 4]) -> u32 {
        if self.enc.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn read_tag(&self, input: &mut Input<'_>) -> PResult<u32> {
        let mut b = [0u8; 4];
        input.need(&mut b, "tag")?;
        let g = self.u16([b[0], b[1]]) as u32;
        let e = self.u16([b[2], b[3]]) as u32;
        Ok((g << 16) | e)
    }

    /// Reads elements until `end` (a defined length), an item delimiter (undefined length
    /// item), or the end of the data (top level). On a stop, returns what was read so far.
    fn read_dataset(
        &mut self,
        input: &mut Input<'_>,
        depth: usize,
        end: Option<u64>,
        pixel: &mut Option<PixelDataInfo>,
    ) -> Result<Vec<Element>, (Vec<Element>, Stop)> {
        let mut out = Vec::new();
        loop {
            if let Some(end) = end {
                if input.pos >= end {
                    break;
                }
            } else if depth == 0 {
                let mut b = [0u8; 1];
                match input.peek(&mut b) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err((out, Stop::Io(e))),
                }
            }
            match self.read_element(input, depth, pixel) {
                Ok(Some(e)) => {
                    let at_pixels = depth == 0 && pixel.is_some();
                    out.push(e);
                    if at_pixels {
                        // Elements may follow the pixel data (padding, signatures, vendor
                        // data): read them too when the pixel data has a defined length.
                        match self.after_pixels(input, pixel) {
                            Ok(mut tail) => out.append(&mut tail),
                            Err(stop) => return Err((out, stop)),
                        }
                        break;
                    }
                }
                Ok(None) => break, // item delimiter
                Err(stop) => return Err((out, stop)),
            }
        }
        Ok(out)
    }

    /// Skips top-level pixel data (counting the fragments of encapsulated data) and reads
    /// any elements after it.
    fn after_pixels(
        &mut self,
        input: &mut Input<'_>,
        pixel: &mut Option<PixelDataInfo>,
    ) -> PResult<Vec<Element>> {
        let Some(info) = pixel.as_mut() else {
            return Ok(Vec::new());
        };
        let remaining = match input.end {
            Some(end) => end.saturating_sub(input.pos),
            None => return Ok(Vec::new()),
        };
        match info.length {
            None => {
                let (table, fragments) = self.count_fragments(input)?;
                info.offset_table = Some(table);
                info.fragments = Some(fragments);
            }
            Some(len) => {
                if remaining <= len {
                    return Ok(Vec::new());
                }
                input.skip(len)?;
            }
        }
        let mut tail = Vec::new();
        let mut none = None;
        while input.end.is_some_and(|end| input.pos < end) {
            let at = input.pos;
            match self.read_element(input, 0, &mut none) {
                Ok(Some(e)) if e.tag > 0x0002_FFFF || e.tag == 0x0000_0000 => tail.push(e),
                Ok(_) | Err(_) => {
                    let end = input.end.unwrap_or(at);
                    self.note(problem(
                        "file.trailing_bytes",
                        format!("{} bytes after Pixel Data are not data elements", end - at),
                    ));
                    break;
                }
            }
        }
        Ok(tail)
    }

    /// Reads one element; `Ok(None)` at an item delimitation item.
    fn read_element(
        &mut self,
        input: &mut Input<'_>,
        depth: usize,
        pixel: &mut Option<PixelDataInfo>,
    ) -> PResult<Option<Element>> {
        self.count += 1;
        if self.count > self.limits.max_elements {
            return Err(Stop::Corrupt(format!(
                "more than {} elements in the header",
                self.limits.max_elements
            )));
        }
        let offset = input.pos;
        let tag = self.read_tag(input)?;
        if tag == ITEM_DELIMITATION || tag == SEQUENCE_DELIMITATION {
            let mut l = [0u8; 4];
            input.need(&mut l, "delimiter length")?;
            if tag == SEQUENCE_DELIMITATION {
                self.note(problem(
                    "encoding.stray_delimiter",
                    format!("sequence delimiter inside an item at byte {offset}"),
                ));
            }
            if depth == 0 {
                return Err(Stop::Corrupt(format!(
                    "delimitation item at top level at byte {offset}"
                )));
            }
            return Ok(None);
        }
        if tag == ITEM {
            return Err(Stop::Corrupt(format!(
                "item tag outside a sequence at byte {offset}"
            )));
        }
        let (vr, length) = if self.enc.explicit_vr {
            let mut b = [0u8; 4];
            input.need(&mut b, "VR and length")?;
            let vr = Vr([b[0], b[1]]);
            if vr.is_known() {
                if vr.has_long_length() {
                    let mut l = [0u8; 4];
                    input.need(&mut l, "length")?;
                    (vr, self.u32(l))
                } else {
                    (vr, self.u16([b[2], b[3]]) as u32)
                }
            } else {
                // An unknown VR: like DCMTK, take the dictionary's VR and a 2-byte length.
                let dict = dictionary_vr(tag);
                self.note(problem(
                    "encoding.invalid_vr",
                    format!(
                        "element {} has invalid VR {:?} at byte {offset}",
                        super::tag_string(tag),
                        String::from_utf8_lossy(&b[0..2])
                    ),
                ));
                (dict, self.u16([b[2], b[3]]) as u32)
            }
        } else {
            let mut l = [0u8; 4];
            input.need(&mut l, "length")?;
            (dictionary_vr(tag), self.u32(l))
        };
        let value_offset = input.pos;
        let undefined = length == u32::MAX;
        let is_pixel_tag = matches!(tag, PIXEL_DATA | FLOAT_PIXEL_DATA | DOUBLE_FLOAT_PIXEL_DATA);

        if depth == 0 && is_pixel_tag {
            *pixel = Some(PixelDataInfo {
                tag,
                offset: value_offset,
                length: if undefined { None } else { Some(length as u64) },
                encapsulated: undefined,
                offset_table: None,
                fragments: None,
            });
            return Ok(Some(Element {
                tag,
                vr,
                length,
                offset,
                value: Value::Bulk,
            }));
        }

        let value = if vr == Vr::SQ || (undefined && (vr == Vr::UN || !self.enc.explicit_vr)) {
            if undefined && is_pixel_tag {
                self.skip_fragments(input)?;
                Value::Bulk
            } else {
                // UN with undefined length holds implicit VR little endian items (PS3.5 §6.2.2).
                let saved = self.enc;
                if vr != Vr::SQ {
                    self.enc = Encoding {
                        explicit_vr: false,
                        big_endian: false,
                        deflated: saved.deflated,
                    };
                }
                let items = self.read_items(input, depth, tag, length);
                self.enc = saved;
                Value::Items(items?)
            }
        } else if undefined {
            if is_pixel_tag {
                self.skip_fragments(input)?;
                Value::Bulk
            } else {
                return Err(Stop::Corrupt(format!(
                    "element {} ({vr}) has undefined length",
                    super::tag_string(tag)
                )));
            }
        } else {
            input.check_len(length as u64, tag)?;
            if vr == Vr::UN && self.enc.explicit_vr {
                // A standard attribute written as UN (e.g. by a converter that lost the VR):
                // decode it with the dictionary's VR so its value is usable (as pydicom does).
                let known = dictionary_vr(tag);
                if known != Vr::UN && known != Vr::SQ && tag >> 16 & 1 == 0 {
                    self.note(problem(
                        "encoding.un_for_known_vr",
                        format!(
                            "standard element {} is encoded as UN instead of {known}",
                            super::tag_string(tag)
                        ),
                    ));
                    let value = self.read_value(input, tag, known, length as usize, depth)?;
                    return Ok(Some(Element {
                        tag,
                        vr: known,
                        length,
                        offset,
                        value,
                    }));
                }
            }
            self.read_value(input, tag, vr, length as usize, depth)?
        };
        if !undefined && length % 2 == 1 {
            self.note(problem(
                "value.odd_length",
                format!("element {} has odd length {length}", super::tag_string(tag)),
            ));
        }
        Ok(Some(Element {
            tag,
            vr,
            length,
            offset,
            value,
        }))
    }

    fn read_items(
        &mut self,
        input: &mut Input<'_>,
        depth: usize,
        tag: u32,
        length: u32,
    ) -> PResult<Vec<Vec<Element>>> {
        if depth + 1 > self.limits.max_depth {
            return Err(Stop::Corrupt(format!(
                "sequences nested deeper than {}",
                self.limits.max_depth
            )));
        }
        let seq_end = if length == u32::MAX {
            None
        } else {
            input.check_len(length as u64, tag)?;
            Some(input.pos + length as u64)
        };
        let mut items = Vec::new();
        loop {
            if let Some(end) = seq_end {
                if input.pos >= end {
                    break;
                }
            }
            let at = input.pos;
            let item_tag = self.read_tag(input)?;
            let mut l = [0u8; 4];
            input.need(&mut l, "item length")?;
            let item_len = self.u32(l);
            if item_tag == SEQUENCE_DELIMITATION {
                if seq_end.is_some() {
                    self.note(problem(
                        "encoding.stray_delimiter",
                        format!("sequence delimiter in a defined-length sequence at byte {at}"),
                    ));
                }
                break;
            }
            if item_tag != ITEM {
                return Err(Stop::Corrupt(format!(
                    "expected an item in sequence {} at byte {at}, found {}",
                    super::tag_string(tag),
                    super::tag_string(item_tag)
                )));
            }
            let item_end = if item_len == u32::MAX {
                None
            } else {
                input.check_len(item_len as u64, tag)?;
                Some(input.pos + item_len as u64)
            };
            let mut none = None;
            match self.read_dataset(input, depth + 1, item_end, &mut none) {
                Ok(list) => items.push(list),
                Err((list, stop)) => {
                    items.push(list);
                    return Err(stop);
                }
            }
            if let Some(end) = item_end {
                if input.pos != end {
                    return Err(Stop::Corrupt(format!(
                        "item in {} overruns its length",
                        super::tag_string(tag)
                    )));
                }
            }
        }
        Ok(items)
    }

    /// Walks the items of top-level encapsulated pixel data (PS3.5 §A.4) without reading
    /// them: returns the Basic Offset Table's length and the number of fragments after it.
    fn count_fragments(&mut self, input: &mut Input<'_>) -> PResult<(u32, u32)> {
        let mut table = None;
        let mut fragments: u32 = 0;
        loop {
            let at = input.pos;
            let t = self.read_tag(input)?;
            let mut l = [0u8; 4];
            input.need(&mut l, "fragment length")?;
            let len = self.u32(l);
            if t == SEQUENCE_DELIMITATION {
                return Ok((table.unwrap_or(0), fragments));
            }
            if t != ITEM || len == u32::MAX {
                return Err(Stop::Corrupt(format!(
                    "encapsulated Pixel Data: expected an item at byte {at}, found {}",
                    super::tag_string(t)
                )));
            }
            input.check_len(len as u64, PIXEL_DATA)?;
            input.skip(len as u64)?;
            if table.is_none() {
                table = Some(len);
            } else {
                fragments = fragments.saturating_add(1);
            }
            if fragments > 10_000_000 {
                return Err(Stop::Corrupt(
                    "more than 10 million pixel data fragments".into(),
                ));
            }
        }
    }

    /// Skips encapsulated pixel data fragments (nested icon images) up to the delimiter.
    fn skip_fragments(&mut self, input: &mut Input<'_>) -> PResult<()> {
        loop {
            let t = self.read_tag(input)?;
            let mut l = [0u8; 4];
            input.need(&mut l, "fragment length")?;
            let len = self.u32(l);
            if t == SEQUENCE_DELIMITATION {
                return Ok(());
            }
            if t != ITEM || len == u32::MAX {
                return Err(Stop::Corrupt("malformed encapsulated pixel data".into()));
            }
            input.check_len(len as u64, t)?;
            input.skip(len as u64)?;
        }
    }

    fn read_value(
        &mut self,
        input: &mut Input<'_>,
        tag: u32,
        vr: Vr,
        len: usize,
        depth: usize,
    ) -> PResult<Value> {
        if len == 0 {
            return Ok(Value::Empty);
        }
        let lim = self.limits;
        self.kept += len.min(lim.max_text);
        if self.kept > lim.max_kept_bytes {
            return Err(Stop::Corrupt(format!(
                "header values exceed {} bytes before Pixel Data",
                lim.max_kept_bytes
            )));
        }
        if vr.is_string() {
            let keep = len.min(lim.max_text);
            let mut buf = vec![0u8; keep];
            input.need(&mut buf, "value")?;
            if keep < len {
                input.skip((len - keep) as u64)?;
            }
            let mut text = self.decode_text(&buf, vr);
            if keep < len {
                text.push('…');
            }
            if depth == 0 && tag == SPECIFIC_CHARACTER_SET {
                self.set_charset(&text);
            }
            return Ok(Value::Text(text));
        }
        let unit = match &vr.0 {
            b"US" | b"SS" => 2,
            b"UL" | b"SL" | b"FL" | b"AT" => 4,
            b"FD" | b"UV" | b"SV" => 8,
            _ => 0,
        };
        if unit > 0 && len <= lim.max_numeric_bytes {
            let mut buf = vec![0u8; len];
            input.need(&mut buf, "value")?;
            if len % unit != 0 {
                self.note(problem(
                    "value.length_vr_mismatch",
                    format!(
                        "element {} ({vr}) has length {len}, not a multiple of {unit}",
                        super::tag_string(tag)
                    ),
                ));
            }
            return Ok(self.decode_numbers(&buf, vr, unit));
        }
        if len <= lim.inline_binary {
            let mut buf = vec![0u8; len];
            input.need(&mut buf, "value")?;
            return Ok(Value::Bytes(buf));
        }
        input.skip(len as u64)?;
        Ok(Value::Bulk)
    }

    fn decode_numbers(&self, buf: &[u8], vr: Vr, unit: usize) -> Value {
        let be = self.enc.big_endian;
        let chunks = buf.chunks_exact(unit);
        macro_rules! ints {
            ($t:ty, $n:expr) => {
                Value::Ints(
                    chunks
                        .map(|c| {
                            let mut a = [0u8; $n];
                            a.copy_from_slice(c);
                            (if be {
                                <$t>::from_be_bytes(a)
                            } else {
                                <$t>::from_le_bytes(a)
                            }) as i64
                        })
                        .collect(),
                )
            };
        }
        match &vr.0 {
            b"US" => ints!(u16, 2),
            b"SS" => ints!(i16, 2),
            b"UL" => ints!(u32, 4),
            b"SL" => ints!(i32, 4),
            b"UV" => ints!(u64, 8),
            b"SV" => ints!(i64, 8),
            b"FL" => Value::Floats(
                chunks
                    .map(|c| {
                        let a = [c[0], c[1], c[2], c[3]];
                        (if be {
                            f32::from_be_bytes(a)
                        } else {
                            f32::from_le_bytes(a)
                        }) as f64
                    })
                    .collect(),
            ),
            b"FD" => Value::Floats(
                chunks
                    .map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        if be {
                            f64::from_be_bytes(a)
                        } else {
                            f64::from_le_bytes(a)
                        }
                    })
                    .collect(),
            ),
            b"AT" => Value::Tags(
                chunks
                    .map(|c| {
                        let g = self.u16([c[0], c[1]]) as u32;
                        let e = self.u16([c[2], c[3]]) as u32;
                        (g << 16) | e
                    })
                    .collect(),
            ),
            _ => Value::Bulk,
        }
    }

    fn set_charset(&mut self, value: &str) {
        // Several terms mean ISO 2022 code extensions; the first non-empty one we know is the
        // best single decoder we have (dicom-rs does not switch charsets mid-value).
        self.charset = value
            .split('\\')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .find_map(SpecificCharacterSet::from_code);
    }

    fn decode_text(&self, buf: &[u8], vr: Vr) -> String {
        let mut end = buf.len();
        while end > 0 && matches!(buf[end - 1], b' ' | 0) {
            end -= 1;
        }
        let mut start = 0;
        if !vr.keeps_leading_space() {
            while start < end && buf[start] == b' ' {
                start += 1;
            }
        }
        let bytes = &buf[start..end];
        if bytes.is_ascii() {
            // ASCII is valid UTF-8, and the default repertoire of every character set.
            return String::from_utf8_lossy(bytes).into_owned();
        }
        if vr.uses_charset() {
            if let Some(cs) = &self.charset {
                if let Ok(s) = cs.decode(bytes) {
                    return s;
                }
            }
        }
        String::from_utf8_lossy(bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{ct_slice, Patient, Series, Study};

    fn sample() -> Vec<u8> {
        let p = Patient::synthetic(1, 0);
        let st = Study::synthetic(1, 0, 0);
        let se = Series::synthetic(1, 0, &st, 0, 32, 32, 8);
        ct_slice(&p, &st, &se, 0)
    }

    /// A Part 10 header followed by explicit VR little endian data set bytes.
    fn part10(dataset: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICM");
        let ts = b"1.2.840.10008.1.2.1\0";
        f.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        f.extend_from_slice(&(ts.len() as u16).to_le_bytes());
        f.extend_from_slice(ts);
        f.extend_from_slice(dataset);
        f
    }

    #[test]
    fn reads_a_generated_slice() {
        let bytes = sample();
        let h = read_header_from(&bytes, &Limits::default()).expect("parses");
        assert!(h.preamble);
        assert_eq!(h.str(MODALITY), Some("CT"));
        assert!(h.pixel_data.is_some());
        assert!(h.problems.is_empty(), "{:?}", h.problems);
        assert!(!h.truncated);
    }

    #[test]
    fn a_length_beyond_the_file_is_truncation_not_an_allocation() {
        // (0010,0010) PN with a 2-byte length is small; use LT... UT has a 4-byte length.
        let mut ds = vec![0x08, 0x00, 0x60, 0x00, b'C', b'S', 2, 0, b'C', b'T'];
        ds.extend_from_slice(&[0x10, 0x00, 0x00, 0x40, b'U', b'T', 0, 0]);
        ds.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        ds.extend_from_slice(b"short");
        let h = read_header_from(&part10(&ds), &Limits::default()).expect("partial header");
        assert!(h.truncated);
        assert_eq!(h.str(MODALITY), Some("CT"));
        assert!(h.problems.iter().any(|p| p.code == "file.truncated"));
    }

    #[test]
    fn deep_nesting_is_cut_off() {
        let mut ds = vec![0x08, 0x00, 0x60, 0x00, b'C', b'S', 2, 0, b'C', b'T'];
        for _ in 0..10_000 {
            // (0008,1115) SQ undefined length, then an item of undefined length.
            ds.extend_from_slice(&[
                0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            ds.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let h = read_header_from(&part10(&ds), &Limits::default()).expect("partial header");
        assert!(h
            .problems
            .iter()
            .any(|p| p.code == "file.corrupt" && p.message.contains("nested deeper")));
    }

    #[test]
    fn too_many_elements_stop_the_parse() {
        let mut ds = Vec::new();
        for i in 0..150_000u32 {
            let elem = 0x1000 + (i % 0xE000) as u16;
            ds.extend_from_slice(&[0x09, 0x00]);
            ds.extend_from_slice(&elem.to_le_bytes());
            ds.extend_from_slice(&[b'U', b'N', 0, 0, 0, 0, 0, 0]);
        }
        let h = read_header_from(&part10(&ds), &Limits::default()).expect("partial header");
        assert!(h.problems.iter().any(|p| p.message.contains("more than")));
        assert!(h.elements.len() <= Limits::default().max_elements);
    }

    #[test]
    fn not_dicom_is_not_dicom() {
        assert!(matches!(
            read_header_from(
                b"hello, this is a text file with enough bytes",
                &Limits::default()
            ),
            Err(HeaderError::NotDicom)
        ));
        assert!(matches!(
            read_header_from(b"", &Limits::default()),
            Err(HeaderError::NotDicom)
        ));
    }

    /// Random corruption of a valid file never panics and always terminates quickly.
    #[test]
    fn mutations_never_panic() {
        let base = sample();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut b = base.clone();
            match next() % 3 {
                0 => {
                    let cut = (next() as usize) % b.len();
                    b.truncate(cut);
                }
                1 => {
                    for _ in 0..1 + next() % 8 {
                        let i = (next() as usize) % b.len();
                        b[i] = next() as u8;
                    }
                }
                _ => {
                    // Overwrite a 4-byte window with a huge or undefined length.
                    let i = 132 + (next() as usize) % (b.len() - 136);
                    let v = if next() % 2 == 0 {
                        u32::MAX
                    } else {
                        0x7FFF_FFF0
                    };
                    b[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            let _ = read_header_from(&b, &Limits::default());
        }
    }
}
