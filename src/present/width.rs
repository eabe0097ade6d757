//! Text measured in terminal columns, not characters: Hangul, kana, CJK ideographs
//! and most emoji take two columns, combining marks and joiners none. Every place
//! that pads or cuts a name to a column goes through here, so a `서버-01` lines up
//! with a `wall-01` in the `--once` table, the dashboard and the history reports.
//!
//! Widths come from `unicode-width` (the same tables ratatui and most terminals
//! use); text is cut between grapheme clusters, so a wide character, a flag or a
//! joined emoji is kept whole or left out whole, never split.

use std::borrow::Cow;

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// The mark put where text was cut.
pub const ELLIPSIS: char = '…';

/// Terminal columns `text` takes.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// `text` cut to at most `cols` columns, ending in `…` when cut; text that fits
/// is borrowed as it is. When the next character is two columns wide and only one
/// is left before the `…`, the result is one column short: [`pad`] fills it.
pub fn fit(text: &str, cols: usize) -> Cow<'_, str> {
    if width(text) <= cols {
        return Cow::Borrowed(text);
    }
    let budget = cols.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let w = width(g);
        if used + w > budget {
            break;
        }
        used += w;
        out.push_str(g);
    }
    if cols > 0 {
        out.push(ELLIPSIS);
    }
    Cow::Owned(out)
}

/// `text` cut as by [`fit`], then padded with spaces to exactly `cols` columns.
pub fn pad(text: &str, cols: usize) -> String {
    let fitted = fit(text, cols);
    let fill = cols.saturating_sub(width(&fitted));
    let mut out = String::with_capacity(fitted.len() + fill);
    out.push_str(&fitted);
    out.extend(std::iter::repeat_n(' ', fill));
    out
}

/// `text` cut from the front to at most `cols` columns, starting with `…` when
/// cut: for a line being typed, whose end is where the cursor is.
pub fn fit_tail(text: &str, cols: usize) -> Cow<'_, str> {
    if width(text) <= cols {
        return Cow::Borrowed(text);
    }
    let budget = cols.saturating_sub(1);
    let mut kept = Vec::new();
    let mut used = 0;
    for g in text.graphemes(true).rev() {
        let w = width(g);
        if used + w > budget {
            break;
        }
        used += w;
        kept.push(g);
    }
    let mut out = String::new();
    if cols > 0 {
        out.push(ELLIPSIS);
    }
    out.extend(kept.into_iter().rev());
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(width("wall-01"), 7);
        assert_eq!(width("서버-01"), 7);
        assert_eq!(width("レンダー-02"), 11);
        assert_eq!(width("渲染-03"), 7);
        assert_eq!(width("wall-🎥-04"), 10);
        // A combining accent takes no column of its own.
        assert_eq!(width("cafe\u{301}"), 4);
    }

    #[test]
    fn text_that_fits_is_borrowed() {
        assert!(matches!(fit("서버-01", 7), Cow::Borrowed("서버-01")));
        assert!(matches!(fit_tail("서버-01", 9), Cow::Borrowed(_)));
        assert_eq!(pad("서버-01", 9), "서버-01  ");
        assert_eq!(width(&pad("서버-01", 9)), 9);
    }

    #[test]
    fn cuts_count_columns_and_never_split_a_wide_character() {
        // Six columns: `서버` (4) and `-` fit before the `…`.
        assert_eq!(fit("서버-01", 6), "서버-…");
        // Five columns: `서버` takes four, the `…` the fifth.
        assert_eq!(fit("서버-01", 5), "서버…");
        // Four: `버` would need columns 3 and 4, leaving none for the `…`; the
        // cut stops one short and padding fills the column.
        assert_eq!(fit("서버-01", 4), "서…");
        assert_eq!(pad("서버-01", 4), "서… ");
        assert_eq!(width(&pad("서버-01", 4)), 4);
        assert_eq!(fit("wall-🎥-04", 7), "wall-…");
        assert_eq!(fit("wall-🎥-04", 8), "wall-🎥…");
        assert_eq!(fit("abc", 1), "…");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(pad("서버", 1), "…");
    }

    #[test]
    fn every_cut_fits_its_columns() {
        let names = [
            "서버-01",
            "レンダー-02",
            "渲染-03",
            "wall-🎥-04",
            "cafe\u{301}-05",
        ];
        for name in names {
            for cols in 0..=width(name) + 2 {
                assert!(width(&fit(name, cols)) <= cols, "{name} in {cols}");
                assert_eq!(width(&pad(name, cols)), cols, "{name} in {cols}");
                assert!(width(&fit_tail(name, cols)) <= cols, "{name} in {cols}");
            }
        }
    }

    #[test]
    fn joined_emoji_and_flags_are_kept_whole() {
        // A woman technologist: three code points, one picture, two columns.
        let joined = "a👩\u{200d}💻b";
        assert_eq!(width(joined), 4);
        assert_eq!(fit(joined, 3), "a…");
        assert_eq!(fit(joined, 4), joined);
        let flag = "🇰🇷x";
        assert_eq!(width(flag), 3);
        assert_eq!(fit(flag, 2), "…");
    }

    #[test]
    fn the_tail_keeps_the_end() {
        assert_eq!(fit_tail("abcdef", 4), "…def");
        assert_eq!(fit_tail("가나다라", 5), "…다라");
        assert_eq!(fit_tail("가나다라", 4), "…라");
    }
}
