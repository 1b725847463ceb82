//! Reading gzip'ed request bodies (forgejo.md §1.5: connect-go accepts `Content-Encoding: gzip`
//! by default). The workspace has no deflate library, so this is a small decoder of RFC 1951
//! deflate inside an RFC 1952 gzip member, written for bodies of a few megabytes at most.

/// Why a gzip body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum InflateError {
    #[error("read a gzip header")]
    Header,
    #[error("read past the end of the compressed data")]
    Truncated,
    #[error("decode an invalid deflate block")]
    Invalid,
    #[error("match the gzip trailer's checksum or length")]
    Trailer,
    #[error("stay within {MAX_OUTPUT} bytes of decompressed data")]
    TooLarge,
}

/// The most a request may expand to; a fake has no use for bigger bodies.
const MAX_OUTPUT: usize = 64 * 1024 * 1024;

const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// The order in which a dynamic block lists the code lengths of its code-length code.
const CODE_LENGTH_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Decompresses one gzip member and checks its trailer.
pub(crate) fn gunzip(data: &[u8]) -> Result<Vec<u8>, InflateError> {
    if data.len() < 18 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8 {
        return Err(InflateError::Header);
    }
    let flags = data[3];
    let mut position = 10;
    // FEXTRA: a length-prefixed field.
    if flags & 4 != 0 {
        let extra = data.get(position..position + 2).ok_or(InflateError::Header)?;
        position += 2 + usize::from(u16::from_le_bytes([extra[0], extra[1]]));
    }
    // FNAME and FCOMMENT: zero-terminated strings.
    for flag in [8, 16] {
        if flags & flag != 0 {
            let rest = data.get(position..).ok_or(InflateError::Header)?;
            let end = rest.iter().position(|byte| *byte == 0).ok_or(InflateError::Header)?;
            position += end + 1;
        }
    }
    // FHCRC: a header checksum, not verified.
    if flags & 2 != 0 {
        position += 2;
    }
    let body = data.get(position..).ok_or(InflateError::Header)?;
    let mut bits = Bits { data: body, position: 0, buffer: 0, count: 0 };
    let output = inflate(&mut bits)?;
    let trailer = body.get(bits.position..bits.position + 8).ok_or(InflateError::Truncated)?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc != crate::compression::crc32(&output) || size != output.len() as u32 {
        return Err(InflateError::Trailer);
    }
    Ok(output)
}

struct Bits<'a> {
    data: &'a [u8],
    position: usize,
    buffer: u32,
    count: u32,
}

impl Bits<'_> {
    /// The next `need` bits (at most 16), least significant first.
    fn take(&mut self, need: u32) -> Result<u32, InflateError> {
        let mut value = self.buffer;
        while self.count < need {
            let byte = *self.data.get(self.position).ok_or(InflateError::Truncated)?;
            self.position += 1;
            value |= u32::from(byte) << self.count;
            self.count += 8;
        }
        self.buffer = value >> need;
        self.count -= need;
        Ok(value & ((1 << need) - 1))
    }

    /// Drops the bits left of the current byte, as a stored block starts byte-aligned.
    fn align(&mut self) {
        self.buffer = 0;
        self.count = 0;
    }
}

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut counts = [0u16; 16];
        for length in lengths {
            counts[usize::from(*length)] += 1;
        }
        let mut offsets = [0usize; 16];
        for length in 1..15 {
            offsets[length + 1] = offsets[length] + usize::from(counts[length]);
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (symbol, length) in lengths.iter().enumerate() {
            if *length != 0 {
                let slot = &mut offsets[usize::from(*length)];
                symbols[*slot] = symbol as u16;
                *slot += 1;
            }
        }
        Huffman { counts, symbols }
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, InflateError> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for length in 1..16 {
            code |= bits.take(1)? as i32;
            let count = i32::from(self.counts[length]);
            if code - first < count {
                let slot = usize::try_from(index + code - first).map_err(|_| InflateError::Invalid)?;
                return self.symbols.get(slot).copied().ok_or(InflateError::Invalid);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(InflateError::Invalid)
    }
}

fn inflate(bits: &mut Bits<'_>) -> Result<Vec<u8>, InflateError> {
    let mut output = Vec::new();
    loop {
        let last = bits.take(1)? == 1;
        match bits.take(2)? {
            0 => stored(bits, &mut output)?,
            1 => {
                let (lengths, distances) = fixed_codes();
                codes(bits, &mut output, &lengths, &distances)?;
            }
            2 => {
                let (lengths, distances) = dynamic_codes(bits)?;
                codes(bits, &mut output, &lengths, &distances)?;
            }
            _ => return Err(InflateError::Invalid),
        }
        if last {
            // The trailer starts at the next byte.
            bits.align();
            return Ok(output);
        }
    }
}

fn stored(bits: &mut Bits<'_>, output: &mut Vec<u8>) -> Result<(), InflateError> {
    bits.align();
    let header = bits.data.get(bits.position..bits.position + 4).ok_or(InflateError::Truncated)?;
    let length = u16::from_le_bytes([header[0], header[1]]);
    if !length != u16::from_le_bytes([header[2], header[3]]) {
        return Err(InflateError::Invalid);
    }
    bits.position += 4;
    let end = bits.position + usize::from(length);
    let block = bits.data.get(bits.position..end).ok_or(InflateError::Truncated)?;
    if output.len() + block.len() > MAX_OUTPUT {
        return Err(InflateError::TooLarge);
    }
    output.extend_from_slice(block);
    bits.position = end;
    Ok(())
}

fn fixed_codes() -> (Huffman, Huffman) {
    let mut lengths = [0u8; 288];
    for (symbol, length) in lengths.iter_mut().enumerate() {
        *length = match symbol {
            0..=143 => 8,
            144..=255 => 9,
            256..=279 => 7,
            _ => 8,
        };
    }
    (Huffman::new(&lengths), Huffman::new(&[5u8; 30]))
}

fn dynamic_codes(bits: &mut Bits<'_>) -> Result<(Huffman, Huffman), InflateError> {
    let literal_count = bits.take(5)? as usize + 257;
    let distance_count = bits.take(5)? as usize + 1;
    let code_length_count = bits.take(4)? as usize + 4;
    if literal_count > 286 || distance_count > 30 {
        return Err(InflateError::Invalid);
    }
    let mut code_lengths = [0u8; 19];
    for slot in CODE_LENGTH_ORDER.iter().take(code_length_count) {
        code_lengths[*slot] = bits.take(3)? as u8;
    }
    let code_length_code = Huffman::new(&code_lengths);
    let total = literal_count + distance_count;
    let mut lengths = vec![0u8; total];
    let mut index = 0;
    while index < total {
        let symbol = code_length_code.decode(bits)?;
        if symbol < 16 {
            lengths[index] = symbol as u8;
            index += 1;
            continue;
        }
        let (value, repeat) = match symbol {
            16 => {
                let previous = *lengths.get(index.wrapping_sub(1)).ok_or(InflateError::Invalid)?;
                (previous, 3 + bits.take(2)? as usize)
            }
            17 => (0, 3 + bits.take(3)? as usize),
            _ => (0, 11 + bits.take(7)? as usize),
        };
        if index + repeat > total {
            return Err(InflateError::Invalid);
        }
        lengths[index..index + repeat].fill(value);
        index += repeat;
    }
    // A block without an end-of-block code could never end.
    if lengths[256] == 0 {
        return Err(InflateError::Invalid);
    }
    Ok((Huffman::new(&lengths[..literal_count]), Huffman::new(&lengths[literal_count..])))
}

fn codes(
    bits: &mut Bits<'_>,
    output: &mut Vec<u8>,
    lengths: &Huffman,
    distances: &Huffman,
) -> Result<(), InflateError> {
    loop {
        let symbol = usize::from(lengths.decode(bits)?);
        if symbol < 256 {
            output.push(symbol as u8);
        } else if symbol == 256 {
            return Ok(());
        } else {
            let symbol = symbol - 257;
            let base = *LENGTH_BASE.get(symbol).ok_or(InflateError::Invalid)?;
            let length = usize::from(base) + bits.take(u32::from(LENGTH_EXTRA[symbol]))? as usize;
            let symbol = usize::from(distances.decode(bits)?);
            let base = *DISTANCE_BASE.get(symbol).ok_or(InflateError::Invalid)?;
            let distance = usize::from(base) + bits.take(u32::from(DISTANCE_EXTRA[symbol]))? as usize;
            if distance > output.len() {
                return Err(InflateError::Invalid);
            }
            // Byte by byte: a match may overlap the bytes it produces.
            for _ in 0..length {
                output.push(output[output.len() - distance]);
            }
        }
        if output.len() > MAX_OUTPUT {
            return Err(InflateError::TooLarge);
        }
    }
}
