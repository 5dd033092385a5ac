//! The byte cursor the fast scanners (header and claims) walk JSON text with, and its
//! primitives: strings (eight bytes at a time), digits, numbers, whole values skipped.
//!
//! The scanners walk the text with a byte cursor (the input is checked to be UTF-8 once, up
//! front). The cursor only ever stops next to an ASCII byte, so every slice it hands out is on
//! a character boundary; no piece needs checking again.
//!
//! Each primitive answers `None` for anything it does not accept, and the scanners pass that
//! on: the caller then falls back to serde, which decides.

/// Which strings a scanner accepts: none has escapes or control characters; the header's are
/// printable ASCII too.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum StringKind {
    Claims,
    Header,
}

/// Bytes that end a string the scanners accept (the closing `"` is tested separately).
static STOP_CLAIM: [bool; 256] = stop_table(false);
static STOP_HEADER: [bool; 256] = stop_table(true);

// Evaluated at compile time: an out-of-bounds index would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const fn stop_table(ascii_only: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b == b'\\' as usize || b < 0x20 || (ascii_only && b >= 0x7F);
        b += 1;
    }
    table
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `word` that is zero. Exact for the lowest such byte, which is
/// all the string scanner reads (a borrow can only mark bytes above a real match).
#[inline(always)]
const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// The high bit of each byte of the little-endian `word` that ends a string: `"` or a byte
/// `stop` would mark (checked again byte by byte: only the lowest mark is exact).
#[inline(always)]
const fn string_stops(word: u64, ascii_only: bool) -> u64 {
    let quote = zero_bytes(word ^ (ONES * b'"' as u64));
    let backslash = zero_bytes(word ^ (ONES * b'\\' as u64));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let outside_ascii = if ascii_only {
        (word & HIGHS) | zero_bytes(word ^ (ONES * 0x7F))
    } else {
        0
    };
    quote | backslash | control | outside_ascii
}

/// A position in JSON text that is valid UTF-8.
pub(super) struct Cursor<'a> {
    pub(super) text: &'a str,
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips JSON whitespace.
    #[inline]
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte`, or fails without moving.
    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Skips whitespace, then consumes `byte`.
    #[inline]
    pub(super) fn ws_eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        self.eat(byte)
    }

    /// Consumes the ASCII `word` (`true`, `false`, `null`).
    fn word(&mut self, word: &str) -> Option<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.text.as_bytes().get(self.pos..end)? == word.as_bytes()).then(|| self.pos = end)
    }

    /// A string of `kind` at the cursor (its opening `"` included); its text without the
    /// quotes.
    #[inline]
    pub(super) fn string(&mut self, kind: StringKind) -> Option<&'a str> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let ascii_only = kind == StringKind::Header;
        let stop = if ascii_only {
            &STOP_HEADER
        } else {
            &STOP_CLAIM
        };
        // Eight bytes at a time while eight are left: most strings end in the first word.
        while let Some(chunk) = self
            .pos
            .checked_add(8)
            .and_then(|end| bytes.get(self.pos..end))
        {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            let stops = string_stops(word, ascii_only);
            if stops != 0 {
                self.pos += (stops.trailing_zeros() / 8) as usize;
                break;
            }
            self.pos += 8;
        }
        loop {
            let b = *bytes.get(self.pos)?;
            if b == b'"' {
                break;
            }
            if stop.get(usize::from(b)).copied().unwrap_or(true) {
                return None;
            }
            self.pos += 1;
        }
        let text = self.text.get(start..self.pos)?;
        self.pos += 1;
        Some(text)
    }

    /// Consumes a run of ASCII digits; their count.
    #[inline]
    pub(super) fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// The items of an array or object whose opening bracket was consumed, up to and
    /// including `close`: `item` reads each one (the cursor on its first byte); items are
    /// separated by `,`, whitespace is allowed around everything, and the container may be
    /// empty.
    #[inline]
    pub(super) fn items(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b if b == close => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Whether only whitespace is left.
    pub(super) fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.text.len()
    }
}

/// An array of strings at the cursor, after its `[`; `f` sees each item.
pub(super) fn json_strings<'a>(c: &mut Cursor<'a>, mut f: impl FnMut(&'a str)) -> Option<()> {
    c.items(b']', |c| {
        f(c.string(StringKind::Claims)?);
        Some(())
    })
}

/// Skips one JSON number (RFC 8259 grammar).
fn skip_number(c: &mut Cursor<'_>) -> Option<()> {
    let _ = c.eat(b'-');
    match c.peek()? {
        b'0' => c.pos += 1,
        b'1'..=b'9' => {
            c.digits();
        }
        _ => return None,
    }
    if c.eat(b'.').is_some() && c.digits() == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = c.peek() {
        c.pos += 1;
        if let Some(b'+' | b'-') = c.peek() {
            c.pos += 1;
        }
        if c.digits() == 0 {
            return None;
        }
    }
    Some(())
}

/// Skips one JSON value; `None` for anything the scanner leaves to serde (escapes, control
/// characters, deep nesting, bad syntax).
pub(super) fn skip_value(c: &mut Cursor<'_>, depth: u8) -> Option<()> {
    let depth = depth.checked_add(1).filter(|d| *d <= 64)?;
    match c.peek()? {
        b'"' => c.string(StringKind::Claims).map(|_| ()),
        b'[' => {
            c.pos += 1;
            c.items(b']', |c| skip_value(c, depth))
        }
        b'{' => {
            c.pos += 1;
            c.items(b'}', |c| {
                c.string(StringKind::Claims)?;
                c.ws_eat(b':')?;
                c.ws();
                skip_value(c, depth)
            })
        }
        b't' => c.word("true"),
        b'f' => c.word("false"),
        b'n' => c.word("null"),
        _ => skip_number(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference for `Cursor::string`: byte by byte.
    fn string_by_bytes(text: &str, kind: StringKind) -> Option<&str> {
        let body = text.strip_prefix('"')?;
        let end = body.bytes().position(|b| {
            b == b'"' || b == b'\\' || b < 0x20 || (kind == StringKind::Header && b >= 0x7F)
        })?;
        (body.as_bytes()[end] == b'"').then(|| &body[..end])
    }

    #[test]
    fn string_scanner_finds_every_stop_at_every_offset() {
        // Every stop byte at every position across the 8-byte words, with text after it so
        // the word-at-a-time path runs, and at the very end so the byte path does.
        for kind in [StringKind::Claims, StringKind::Header] {
            for stop in ["\"", "\\", "\u{0}", "\n", "\u{1f}", "\u{7f}", "é", "\u{80}"] {
                for at in 0..20 {
                    for tail in ["", "\",\"more text after it\"}"] {
                        let text =
                            format!("\"{}{stop}{}\"{tail}", "a".repeat(at), "b".repeat(at % 5));
                        let mut c = Cursor::new(&text);
                        let got = c.string(kind);
                        assert_eq!(got, string_by_bytes(&text, kind), "{text:?}");
                        if let Some(got) = got {
                            assert_eq!(&text[c.pos..], &text[got.len() + 2..], "{text:?}");
                        }
                    }
                }
            }
        }
    }
}
