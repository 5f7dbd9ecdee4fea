//! Key groups, exactly as Flink computes them (`KeyGroupRangeAssignment`, `MathUtils`): the
//! one implementation, used by the host's engine (`weir-core`) and by the SDK (which routes a
//! broadcast record to every key group).
//!
//! A key is hashed with Java's `String.hashCode` (keys are the bytes of a UTF-8 string; other
//! bytes hash like Java's `Arrays.hashCode(byte[])`), that hash is mixed with Flink's 32-bit
//! murmur finaliser, and the key group is the result modulo the maximum parallelism. Subtask
//! `i` of `p` owns a contiguous range of key groups.

/// Java's `String.hashCode` of `key` read as UTF-8 (over UTF-16 code units), or
/// `Arrays.hashCode(byte[])` when `key` is not UTF-8.
pub fn java_hash(key: &[u8]) -> i32 {
    let mut h: i32 = 0;
    if key.is_ascii() {
        for &b in key {
            h = h.wrapping_mul(31).wrapping_add(b as i32);
        }
        return h;
    }
    match std::str::from_utf8(key) {
        Ok(s) => {
            for unit in s.encode_utf16() {
                h = h.wrapping_mul(31).wrapping_add(unit as i32);
            }
            h
        }
        Err(_) => {
            h = 1;
            for &b in key {
                h = h.wrapping_mul(31).wrapping_add(b as i8 as i32);
            }
            h
        }
    }
}

/// Flink's `MathUtils.murmurHash(int)`.
pub fn murmur_hash(code: i32) -> i32 {
    let mut code = code.wrapping_mul(0xcc9e_2d51_u32 as i32);
    code = code.rotate_left(15);
    code = code.wrapping_mul(0x1b87_3593);
    code = code.rotate_left(13);
    code = code.wrapping_mul(5).wrapping_add(0xe654_6b64_u32 as i32);
    code ^= 4;
    code ^= ((code as u32) >> 16) as i32;
    code = code.wrapping_mul(0x85eb_ca6b_u32 as i32);
    code ^= ((code as u32) >> 13) as i32;
    code = code.wrapping_mul(0xc2b2_ae35_u32 as i32);
    code ^= ((code as u32) >> 16) as i32;
    if code >= 0 {
        code
    } else if code != i32::MIN {
        -code
    } else {
        0
    }
}

/// The key group of `key` among `max_parallelism` groups.
pub fn key_group(key: &[u8], max_parallelism: u32) -> u16 {
    // Below the max parallelism, which plans keep at most 32768 (Flink's upper bound).
    u16::try_from(murmur_hash(java_hash(key)) as u32 % max_parallelism).unwrap_or(u16::MAX)
}

/// The subtask (of `parallelism`) that owns `key_group`.
pub fn subtask_for_key_group(key_group: u16, max_parallelism: u32, parallelism: u32) -> u32 {
    // Below `parallelism` for any key group below `max_parallelism`.
    u32::try_from(key_group as u64 * parallelism as u64 / max_parallelism as u64).unwrap_or(u32::MAX)
}

/// The first and last (inclusive) key group subtask `index` of `parallelism` owns.
pub fn key_group_range(max_parallelism: u32, parallelism: u32, index: u32) -> (u16, u16) {
    let (m, p, i) = (u64::from(max_parallelism), u64::from(parallelism.max(1)), u64::from(index));
    // Both at most the max parallelism, which plans keep at most 32768 (Flink's upper bound).
    let start = u16::try_from((i * m).div_ceil(p)).unwrap_or(u16::MAX);
    let end = u16::try_from(((i + 1) * m).saturating_sub(1) / p).unwrap_or(u16::MAX);
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_land_in_flinks_key_groups() {
        assert_eq!(java_hash(b"/help"), 46604272);
        assert_eq!(key_group(b"/help", 128), 111);
        assert_eq!(key_group(b"/index", 128), 16);
        // Beyond the BMP: two UTF-16 code units (the Python SDK's test checks the same value).
        assert_eq!(java_hash("a😀".as_bytes()), (97 * 31 + 0xD83D) * 31 + 0xDE00);
    }

    #[test]
    fn subtasks_own_contiguous_ranges_covering_every_group() {
        for p in 1..=7 {
            let mut next = 0;
            for i in 0..p {
                let (start, end) = key_group_range(128, p, i);
                assert_eq!(start, next);
                next = end + 1;
            }
            assert_eq!(next, 128);
        }
    }
}
