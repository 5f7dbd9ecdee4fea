//! Message text bounded for logs, error reports and RPC: cut at a character boundary.

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary.
///
/// ```
/// assert_eq!(weir_core::text::prefix("héllo", 2), "h");
/// assert_eq!(weir_core::text::prefix("héllo", 3), "hé");
/// assert_eq!(weir_core::text::prefix("hi", 10), "hi");
/// ```
pub fn prefix(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
