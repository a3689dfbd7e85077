//! CRC-32 as PNG uses it (ISO 3309, reflected polynomial 0xEDB88320).

const POLYNOMIAL: u32 = 0xEDB8_8320;

/// The remainder of every byte value, so that the checksum takes one lookup per byte.
const TABLE: [u32; 256] = table();

const fn table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut remainder = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            remainder = if remainder & 1 == 1 {
                (remainder >> 1) ^ POLYNOMIAL
            } else {
                remainder >> 1
            };
            bit += 1;
        }
        table[byte] = remainder;
        byte += 1;
    }
    table
}

/// The CRC-32 of the concatenation of `parts`.
pub(super) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = u32::MAX;
    for part in parts {
        for &byte in *part {
            // A u8 index into a 256-entry table is always in bounds.
            let index = usize::from((crc as u8) ^ byte);
            crc = (crc >> 8) ^ TABLE[index];
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(crc32(&[]), 0);
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
        // The checksum of an empty IEND chunk, found at the end of every PNG.
        assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
    }
}
