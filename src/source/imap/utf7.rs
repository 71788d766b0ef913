//! Folder names on the wire: modified UTF-7 (RFC 3501 §5.1.3).
//!
//! IMAP4rev1 mailbox names are 7-bit: printable ASCII stands for itself
//! (`&` is written `&-`), and every run of other characters is written as
//! `&`, its UTF-16BE code units in base64 with `,` for `/` and no padding,
//! then `-`. So "Отчёты" is sent as `&BB4EQgRHBFEEQgRL-`. Only encoding is
//! needed: names are given by the user and sent; none is read back.
//!
//! Hand-written rather than taken from `utf7-imap`, which pulls in `regex`
//! and an old `base64` and passes DEL (0x7f) through unencoded.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// `name` in modified UTF-7, as a mailbox name is sent.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            match c {
                '&' => out.push_str("&-"),
                c => out.push(c),
            }
        } else {
            run.extend(c.encode_utf16(&mut [0; 2]).iter());
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Writes a run of non-ASCII as `&<modified base64>-`.
fn flush(run: &mut Vec<u16>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    let bytes: Vec<u8> = run.drain(..).flat_map(u16::to_be_bytes).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // 1, 2 or 3 bytes make 2, 3 or 4 characters; no padding.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out.push('-');
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn ascii_stands_for_itself_and_ampersand_is_escaped() {
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(encode("Reports/DMARC 2025"), "Reports/DMARC 2025");
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(encode("\u{7f}"), "&AH8-");
    }

    #[test]
    fn rfc_3501_examples() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語".
        assert_eq!(
            encode("~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
    }

    #[test]
    fn accents_cyrillic_and_astral_characters() {
        assert_eq!(encode("Envoyé"), "Envoy&AOk-");
        assert_eq!(encode("Отчёты"), "&BB4EQgRHBFEEQgRL-");
        assert_eq!(encode("Отправленные"), "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-");
        // A surrogate pair: U+1F4E7 is D83D DCE7.
        assert_eq!(encode("\u{1f4e7}"), "&2D3c5w-");
    }
}
