//! Form 1099-NEC summaries: what a creator's 1099 reports for a tax year, exported as CSV for
//! the tax team and as a one-page PDF for the creator's records.
//!
//! Only masked TINs ever reach these documents; both writers mask the TIN fields again
//! ([`mask_tin`] is idempotent), so a full number passed by mistake still comes out masked.
//! The PDF is written by hand: one page of text needs a few hundred bytes of PDF syntax, not a
//! PDF library.

use std::borrow::Cow;

use super::mask::mask_tin;

/// The figures of one recipient's Form 1099-NEC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form1099Summary {
    /// Calendar year the payments were made in.
    pub tax_year: i32,
    /// The platform's legal name.
    pub payer_name: String,
    /// The platform's EIN, masked (`**-***6789`).
    pub payer_tin_masked: String,
    /// The creator's legal name (or business name).
    pub recipient_name: String,
    /// The creator's TIN, masked (`***-**-6789`).
    pub recipient_tin_masked: String,
    /// Mailing address, one entry per line.
    pub recipient_address: Vec<String>,
    /// Box 1: the year's nonemployee compensation, in minor units.
    pub nonemployee_compensation_minor: i64,
    /// ISO 4217 code of the amounts.
    pub currency: String,
    /// How many payments make up box 1.
    pub payments_count: u32,
    /// The filing threshold for the year, in minor units.
    pub threshold_minor: i64,
    /// Whether box 1 reaches the threshold, so that a form must be filed.
    pub meets_threshold: bool,
}

/// Currencies the payment provider counts in whole units (no minor unit).
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];
/// Currencies the payment provider counts in thousandths.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// Decimal places of a currency's minor unit, as the payment provider counts amounts: 0 for
/// `jpy` and the other zero-decimal currencies, 3 for `kwd` and its kind, 2 otherwise.
pub fn currency_exponent(currency: &str) -> u32 {
    let code = currency.trim().to_ascii_lowercase();
    if ZERO_DECIMAL.contains(&code.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// An amount in minor units as a decimal number, optionally with thousands separators.
fn decimal(amount: i64, exponent: u32, grouped: bool) -> String {
    let scale = 10_u64.pow(exponent);
    // `unsigned_abs` so that `i64::MIN` formats instead of overflowing.
    let magnitude = amount.unsigned_abs();
    let units = (magnitude / scale).to_string();
    let mut out = String::with_capacity(units.len() + units.len() / 3 + 6);
    if amount < 0 {
        out.push('-');
    }
    for (i, digit) in units.chars().enumerate() {
        if grouped && i > 0 && (units.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if exponent > 0 {
        let fraction = magnitude % scale;
        out.push('.');
        out.push_str(&format!("{fraction:0width$}", width = exponent as usize));
    }
    out
}

/// Formats minor units for people: `format_minor(200000, "usd")` → `2,000.00 USD`,
/// `format_minor(200000, "jpy")` → `200,000 JPY` (the yen has no minor unit).
pub fn format_minor(amount: i64, currency: &str) -> String {
    format!(
        "{} {}",
        decimal(amount, currency_exponent(currency), true),
        currency.trim().to_ascii_uppercase()
    )
}

/// The CSV header, in column order.
pub const CSV_COLUMNS: [&str; 11] = [
    "tax_year",
    "payer_name",
    "payer_tin",
    "recipient_name",
    "recipient_tin",
    "recipient_address",
    "nonemployee_compensation",
    "currency",
    "payments_count",
    "threshold",
    "meets_threshold",
];

/// Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell from user data: defused, then quoted.
fn text_cell(value: &str) -> String {
    let value = if value.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    };
    quoted(&value).into_owned()
}

/// RFC 4180: a field holding a quote, comma or line break is enclosed in quotes, and quotes
/// inside it are doubled.
fn quoted(value: &str) -> Cow<'_, str> {
    if value.contains(['"', ',', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

/// The summaries as CSV: a header row, then one row per form, CRLF-terminated (RFC 4180).
///
/// Amounts are plain decimals in the currency's unit (`2000.00`), which spreadsheets read as
/// numbers; the address lines share one cell, separated by line breaks. Numeric cells are
/// written by this function and are not defused: a negative amount (`-12.50`) is a number, not
/// a formula.
pub fn to_csv(forms: &[Form1099Summary]) -> Vec<u8> {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for form in forms {
        let exponent = currency_exponent(&form.currency);
        let cells = [
            form.tax_year.to_string(),
            text_cell(&form.payer_name),
            text_cell(&mask_tin(&form.payer_tin_masked)),
            text_cell(&form.recipient_name),
            text_cell(&mask_tin(&form.recipient_tin_masked)),
            text_cell(&form.recipient_address.join("\n")),
            decimal(form.nonemployee_compensation_minor, exponent, false),
            text_cell(&form.currency.trim().to_ascii_uppercase()),
            form.payments_count.to_string(),
            decimal(form.threshold_minor, exponent, false),
            form.meets_threshold.to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// The WinAnsiEncoding byte of a character, if it has one. Latin-1 agrees with WinAnsi from
/// 0xA0 up; 0x80–0x9F hold typographic marks instead of control characters.
fn winansi(c: char) -> Option<u8> {
    let byte = match c {
        ' '..='~' | '\u{a0}'..='\u{ff}' => return u8::try_from(u32::from(c)).ok(),
        '\u{20ac}' => 0x80, // euro sign
        '\u{201a}' => 0x82, // single low-9 quotation mark
        '\u{0192}' => 0x83, // f with hook
        '\u{201e}' => 0x84, // double low-9 quotation mark
        '\u{2026}' => 0x85, // ellipsis
        '\u{2020}' => 0x86, // dagger
        '\u{2021}' => 0x87, // double dagger
        '\u{02c6}' => 0x88, // circumflex accent
        '\u{2030}' => 0x89, // per mille
        '\u{0160}' => 0x8a, // S with caron
        '\u{2039}' => 0x8b, // single left angle quotation mark
        '\u{0152}' => 0x8c, // OE ligature
        '\u{017d}' => 0x8e, // Z with caron
        '\u{2018}' => 0x91, // left single quotation mark
        '\u{2019}' => 0x92, // right single quotation mark
        '\u{201c}' => 0x93, // left double quotation mark
        '\u{201d}' => 0x94, // right double quotation mark
        '\u{2022}' => 0x95, // bullet
        '\u{2013}' => 0x96, // en dash
        '\u{2014}' => 0x97, // em dash
        '\u{02dc}' => 0x98, // small tilde
        '\u{2122}' => 0x99, // trade mark
        '\u{0161}' => 0x9a, // s with caron
        '\u{203a}' => 0x9b, // single right angle quotation mark
        '\u{0153}' => 0x9c, // oe ligature
        '\u{017e}' => 0x9e, // z with caron
        '\u{0178}' => 0x9f, // Y with diaeresis
        _ => return None,
    };
    Some(byte)
}

/// A PDF literal string in WinAnsi: delimiters and backslashes escaped, bytes above 0x7E as
/// octal escapes (so the file stays ASCII), and characters WinAnsi lacks (and control
/// characters) as `?`.
fn pdf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in text.chars() {
        match winansi(c) {
            Some(b'(') => out.push_str("\\("),
            Some(b')') => out.push_str("\\)"),
            Some(b'\\') => out.push_str("\\\\"),
            Some(byte @ 0x20..=0x7e) => out.push(char::from(byte)),
            Some(byte) => out.push_str(&format!("\\{byte:03o}")),
            None => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// Longest user-supplied line on the page; at 10 pt Helvetica this fits the text width.
const MAX_LINE_CHARS: usize = 80;
/// Address lines shown; the page has room for these and a real address needs fewer.
const MAX_ADDRESS_LINES: usize = 6;

/// User data cut to fit the line, marked with an ellipsis when cut.
fn clip(text: &str) -> Cow<'_, str> {
    if text.chars().count() <= MAX_LINE_CHARS {
        Cow::Borrowed(text)
    } else {
        let mut cut: String = text.chars().take(MAX_LINE_CHARS - 1).collect();
        cut.push('\u{2026}');
        Cow::Owned(cut)
    }
}

/// The page's content stream, written top to bottom.
struct Page {
    ops: String,
    y: u32,
}

impl Page {
    const LEFT: u32 = 72;

    fn line(&mut self, font: &str, size: u32, text: &str) {
        self.ops.push_str(&format!(
            "BT /{font} {size} Tf {} {} Td {} Tj ET\n",
            Self::LEFT,
            self.y,
            pdf_string(text)
        ));
        self.y = self.y.saturating_sub(size + size / 2);
    }

    fn gap(&mut self, points: u32) {
        self.y = self.y.saturating_sub(points);
    }
}

fn page_content(form: &Form1099Summary) -> String {
    let mut page = Page {
        ops: String::new(),
        y: 720,
    };
    page.line(
        "F2",
        16,
        &format!("Form 1099-NEC summary \u{2014} tax year {}", form.tax_year),
    );
    page.gap(12);
    page.line("F2", 11, "Payer");
    page.line("F1", 10, &clip(&form.payer_name));
    page.line(
        "F1",
        10,
        &format!("TIN: {}", mask_tin(&form.payer_tin_masked)),
    );
    page.gap(12);
    page.line("F2", 11, "Recipient");
    page.line("F1", 10, &clip(&form.recipient_name));
    page.line(
        "F1",
        10,
        &format!("TIN: {}", mask_tin(&form.recipient_tin_masked)),
    );
    for address_line in form.recipient_address.iter().take(MAX_ADDRESS_LINES) {
        page.line("F1", 10, &clip(address_line));
    }
    page.gap(12);
    page.line(
        "F2",
        11,
        &format!(
            "Box 1 \u{2014} Nonemployee compensation: {}",
            format_minor(form.nonemployee_compensation_minor, &form.currency)
        ),
    );
    page.line(
        "F1",
        10,
        &format!("Payments included: {}", form.payments_count),
    );
    page.line(
        "F1",
        10,
        &format!(
            "Filing threshold: {} ({})",
            format_minor(form.threshold_minor, &form.currency),
            if form.meets_threshold {
                "reached"
            } else {
                "not reached"
            }
        ),
    );
    page.gap(12);
    page.line(
        "F1",
        9,
        "This summary is for the recipient's records. It is not a copy of the form filed with the IRS.",
    );
    page.ops
}

/// A PDF being written: objects numbered from 1 in the order they are added, with their byte
/// offsets remembered for the cross-reference table.
struct PdfFile {
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

impl PdfFile {
    fn new() -> Self {
        Self {
            bytes: b"%PDF-1.4\n".to_vec(),
            offsets: Vec::new(),
        }
    }

    fn object(&mut self, body: &str) {
        let number = self.offsets.len() + 1;
        self.offsets.push(self.bytes.len());
        self.bytes
            .extend_from_slice(format!("{number} 0 obj\n{body}\nendobj\n").as_bytes());
    }

    fn stream(&mut self, content: &str) {
        // The line break before `endstream` is not part of the data, so /Length excludes it.
        self.object(&format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }

    /// Appends the cross-reference table (fixed 20-byte entries) and the trailer.
    fn finish(mut self, root: usize, info: usize) -> Vec<u8> {
        let xref = self.bytes.len();
        let size = self.offsets.len() + 1;
        let mut tail = format!("xref\n0 {size}\n0000000000 65535 f \n");
        for offset in &self.offsets {
            tail.push_str(&format!("{offset:010} 00000 n \n"));
        }
        tail.push_str(&format!(
            "trailer\n<< /Size {size} /Root {root} 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        ));
        self.bytes.extend_from_slice(tail.as_bytes());
        self.bytes
    }
}

/// The summary as a one-page PDF 1.4 (US Letter, Helvetica) for the recipient's records.
pub fn to_pdf(form: &Form1099Summary) -> Vec<u8> {
    let mut pdf = PdfFile::new();
    pdf.object("<< /Type /Catalog /Pages 2 0 R >>");
    pdf.object("<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    pdf.object(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
         /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
    );
    pdf.object("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
    pdf.object(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    );
    pdf.stream(&page_content(form));
    // Document information uses PDFDocEncoding, not WinAnsi: keep it to ASCII.
    pdf.object(&format!(
        "<< /Title {} /Producer (DirectFanz) >>",
        pdf_string(&format!(
            "Form 1099-NEC summary, tax year {}",
            form.tax_year
        ))
    ));
    pdf.finish(1, 7)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    fn form() -> Form1099Summary {
        Form1099Summary {
            tax_year: 2025,
            payer_name: "DirectFanz, Inc.".into(),
            payer_tin_masked: "**-***4321".into(),
            recipient_name: "Ada Lovelace".into(),
            recipient_tin_masked: "***-**-6789".into(),
            recipient_address: vec!["12 Analytical Way".into(), "London, KY 40741".into()],
            nonemployee_compensation_minor: 200_000,
            currency: "usd".into(),
            payments_count: 14,
            threshold_minor: 60_000,
            meets_threshold: true,
        }
    }

    // ---- money ----

    #[test]
    fn minor_units_format_for_people() {
        assert_eq!(format_minor(200_000, "usd"), "2,000.00 USD");
        assert_eq!(format_minor(5, "usd"), "0.05 USD");
        assert_eq!(format_minor(0, "eur"), "0.00 EUR");
        assert_eq!(format_minor(-123_456_789, "usd"), "-1,234,567.89 USD");
        assert_eq!(format_minor(99_999, "gbp"), "999.99 GBP");
        assert_eq!(format_minor(100_000, "USD"), "1,000.00 USD");
        assert_eq!(format_minor(200_000, "jpy"), "200,000 JPY");
        assert_eq!(format_minor(999, "jpy"), "999 JPY");
        assert_eq!(format_minor(1_234_560, "kwd"), "1,234.560 KWD");
        assert_eq!(
            format_minor(i64::MIN, "usd"),
            "-92,233,720,368,547,758.08 USD"
        );
    }

    #[quickcheck]
    fn formatted_amounts_read_back_exactly(amount: i64, zero_decimal: bool) -> bool {
        let currency = if zero_decimal { "jpy" } else { "usd" };
        let text = format_minor(amount, currency);
        let number = text.strip_suffix(&format!(" {}", currency.to_uppercase()));
        let Some(number) = number else { return false };
        let digits: String = number.chars().filter(|&c| c != ',' && c != '.').collect();
        let groups_ok = number
            .trim_start_matches('-')
            .split('.')
            .next()
            .unwrap()
            .split(',')
            .enumerate()
            .all(|(i, g)| {
                if i == 0 {
                    (1..=3).contains(&g.len())
                } else {
                    g.len() == 3
                }
            });
        let places = number.split('.').nth(1).map_or(0, str::len);
        digits.parse::<i128>().ok() == Some(i128::from(amount))
            && groups_ok
            && places == if zero_decimal { 0 } else { 2 }
    }

    // ---- CSV ----

    /// A strict RFC 4180 reader, for checking what the writer produced.
    fn parse_csv(data: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut chars = data.chars().peekable();
        let mut quoted = false;
        let mut at_field_start = true;
        while let Some(c) = chars.next() {
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                } else {
                    field.push(c);
                }
                continue;
            }
            match c {
                '"' if at_field_start => {
                    quoted = true;
                    at_field_start = false;
                }
                '"' => panic!("bare quote inside an unquoted field"),
                ',' => {
                    row.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                '\r' => {
                    assert_eq!(chars.next(), Some('\n'), "CR without LF outside quotes");
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                    at_field_start = true;
                }
                '\n' => panic!("bare LF outside quotes"),
                other => {
                    field.push(other);
                    at_field_start = false;
                }
            }
        }
        assert!(!quoted, "unterminated quoted field");
        assert!(
            field.is_empty() && row.is_empty(),
            "last record not terminated"
        );
        rows
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_form() {
        let mut second = form();
        second.recipient_name = "Grace \"Amazing\" Hopper, PhD".into();
        second.recipient_address = vec!["1 Navy Yard".into(), "Arlington, VA".into()];
        second.nonemployee_compensation_minor = 59_999;
        second.meets_threshold = false;
        let csv = String::from_utf8(to_csv(&[form(), second])).unwrap();
        assert!(csv.starts_with("tax_year,payer_name,payer_tin,recipient_name,"));
        let rows = parse_csv(&csv);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], CSV_COLUMNS);
        assert_eq!(
            rows[1],
            [
                "2025",
                "DirectFanz, Inc.",
                "**-***4321",
                "Ada Lovelace",
                "***-**-6789",
                "12 Analytical Way\nLondon, KY 40741",
                "2000.00",
                "USD",
                "14",
                "600.00",
                "true"
            ]
        );
        assert_eq!(rows[2][3], "Grace \"Amazing\" Hopper, PhD");
        assert_eq!(rows[2][6], "599.99");
        assert_eq!(rows[2][10], "false");
        assert!(csv.contains("\"Grace \"\"Amazing\"\" Hopper, PhD\""));
        assert!(csv.ends_with("false\r\n"));
        assert_eq!(
            to_csv(&[]),
            format!("{}\r\n", CSV_COLUMNS.join(",")).into_bytes()
        );
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        let mut evil = form();
        evil.recipient_name = "=HYPERLINK(\"http://x\",\"y\")".into();
        evil.payer_name = "+1+1".into();
        evil.recipient_address = vec!["-2+3".into(), "=cmd".into()];
        evil.currency = "@sum".into();
        evil.recipient_tin_masked = "\t=1".into();
        evil.nonemployee_compensation_minor = -1_250;
        let rows = parse_csv(&String::from_utf8(to_csv(&[evil])).unwrap());
        assert_eq!(rows[1][1], "'+1+1");
        assert_eq!(rows[1][3], "'=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(rows[1][4], "'=1", "masking trims the blanks first");
        assert_eq!(rows[1][5], "'-2+3\n=cmd");
        assert_eq!(rows[1][6], "-12.50", "numbers stay numbers");
        assert_eq!(rows[1][7], "'@SUM");
    }

    #[test]
    fn csv_masks_a_full_tin_passed_by_mistake() {
        let mut leaky = form();
        leaky.recipient_tin_masked = "123-45-6789".into();
        leaky.payer_tin_masked = "98-7654321".into();
        let csv = String::from_utf8(to_csv(&[leaky])).unwrap();
        assert!(csv.contains("***-**-6789") && csv.contains("**-***4321"));
        assert!(!csv.contains("12345") && !csv.contains("987"));
    }

    #[test]
    fn csv_amounts_follow_the_currency() {
        let mut yen = form();
        yen.currency = "jpy".into();
        yen.nonemployee_compensation_minor = 200_000;
        yen.threshold_minor = 90_000;
        let rows = parse_csv(&String::from_utf8(to_csv(&[yen])).unwrap());
        assert_eq!(rows[1][6], "200000");
        assert_eq!(rows[1][9], "90000");
    }

    #[quickcheck]
    fn any_text_survives_the_csv_round_trip(name: String, address: Vec<String>) -> bool {
        let mut f = form();
        f.recipient_name = name.clone();
        f.recipient_address = address.clone();
        let rows = parse_csv(&String::from_utf8(to_csv(&[f])).unwrap());
        let defused = |s: &str| {
            if s.starts_with(FORMULA_STARTS) {
                format!("'{s}")
            } else {
                s.to_owned()
            }
        };
        rows.len() == 2
            && rows[1].len() == CSV_COLUMNS.len()
            && rows[1][3] == defused(&name)
            && rows[1][5] == defused(&address.join("\n"))
    }

    // ---- PDF ----

    /// Checks the file's structure and returns its content stream.
    fn check_structure(pdf: &[u8]) -> String {
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        assert!(pdf.is_ascii(), "the file stays 7-bit");
        let text = std::str::from_utf8(pdf).unwrap();

        let startxref = text.rfind("startxref\n").unwrap();
        let xref: usize = text[startxref + 10..]
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            text[xref..].starts_with("xref\n0 8\n"),
            "startxref points at xref"
        );
        let table = &text[xref + "xref\n0 8\n".len()..];
        assert!(table.starts_with("0000000000 65535 f \n"));
        for number in 1..=7 {
            let entry = &table[number * 20..(number + 1) * 20];
            assert!(entry.ends_with(" 00000 n \n"), "entry {number}: {entry:?}");
            let offset: usize = entry[..10].parse().unwrap();
            assert!(
                text[offset..].starts_with(&format!("{number} 0 obj\n")),
                "object {number} is not at {offset}"
            );
        }
        assert!(text[xref..].contains("trailer\n<< /Size 8 /Root 1 0 R /Info 7 0 R >>"));

        let length_at = text.find("/Length ").unwrap() + "/Length ".len();
        let length: usize = text[length_at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let start = text.find(">>\nstream\n").unwrap() + ">>\nstream\n".len();
        assert_eq!(
            &text[start + length..start + length + "\nendstream".len()],
            "\nendstream",
            "/Length is exact"
        );
        let content = text[start..start + length].to_owned();
        for line in content.lines() {
            assert!(
                line.starts_with("BT /F") && line.ends_with(") Tj ET"),
                "{line}"
            );
        }
        content
    }

    /// The decoded bytes of every literal string shown with `Tj`, in order.
    fn shown_strings(content: &str) -> Vec<Vec<u8>> {
        let bytes = content.as_bytes();
        let mut shown = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'(' {
                i += 1;
                continue;
            }
            let mut value = Vec::new();
            let mut depth = 1;
            i += 1;
            loop {
                let c = bytes[i];
                match c {
                    b'\\' => {
                        let next = bytes[i + 1];
                        if next.is_ascii_digit() {
                            let octal = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap();
                            value.push(u8::from_str_radix(octal, 8).unwrap());
                            i += 4;
                        } else {
                            value.push(next);
                            i += 2;
                        }
                        continue;
                    }
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                value.push(c);
                i += 1;
            }
            i += 1;
            assert!(content[i..].starts_with(" Tj ET\n"), "string not shown");
            shown.push(value);
        }
        shown
    }

    fn winansi_text(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|&b| match b {
                0x97 => '\u{2014}',
                other => char::from(other),
            })
            .collect()
    }

    #[test]
    fn the_pdf_is_well_formed_and_says_what_it_should() {
        let pdf = to_pdf(&form());
        let content = check_structure(&pdf);
        let lines: Vec<String> = shown_strings(&content)
            .iter()
            .map(|s| winansi_text(s))
            .collect();
        assert_eq!(
            lines,
            [
                "Form 1099-NEC summary \u{2014} tax year 2025",
                "Payer",
                "DirectFanz, Inc.",
                "TIN: **-***4321",
                "Recipient",
                "Ada Lovelace",
                "TIN: ***-**-6789",
                "12 Analytical Way",
                "London, KY 40741",
                "Box 1 \u{2014} Nonemployee compensation: 2,000.00 USD",
                "Payments included: 14",
                "Filing threshold: 600.00 USD (reached)",
                "This summary is for the recipient's records. It is not a copy of the form filed with the IRS.",
            ]
        );
        assert!(content.contains("(Form 1099-NEC summary \\227 tax year 2025)"));
        let text = String::from_utf8(pdf.clone()).unwrap();
        assert!(text.contains("/BaseFont /Helvetica "));
        assert!(text.contains("/Title (Form 1099-NEC summary, tax year 2025)"));
        assert_eq!(to_pdf(&form()), pdf, "the same form gives the same bytes");
    }

    #[test]
    fn pdf_strings_escape_delimiters_and_backslashes() {
        let mut f = form();
        f.recipient_name = "Ada (AL) Lovelace \\ )(".into();
        let content = check_structure(&to_pdf(&f));
        assert!(
            content.contains("(Ada \\(AL\\) Lovelace \\\\ \\)\\() Tj"),
            "{content}"
        );
        assert_eq!(shown_strings(&content)[5], b"Ada (AL) Lovelace \\ )(");
    }

    #[test]
    fn characters_outside_winansi_become_question_marks() {
        let mut f = form();
        f.recipient_name =
            "Zo\u{eb} \u{65e5}\u{672c} \u{201c}Q\u{201d} \u{20ac}5\tx\u{1f600}".into();
        let content = check_structure(&to_pdf(&f));
        assert_eq!(shown_strings(&content)[5], b"Zo\xeb ?? \x93Q\x94 \x805?x?");
    }

    #[test]
    fn long_fields_are_clipped_and_addresses_bounded() {
        let mut f = form();
        f.recipient_name = "N".repeat(500);
        f.recipient_address = (0..20).map(|i| format!("line {i}")).collect();
        let content = check_structure(&to_pdf(&f));
        let shown = shown_strings(&content);
        assert_eq!(shown[5].len(), MAX_LINE_CHARS);
        assert!(shown[5].ends_with(b"\x85"));
        assert_eq!(
            shown.iter().filter(|s| s.starts_with(b"line ")).count(),
            MAX_ADDRESS_LINES
        );
        // The last line still sits inside the page's bottom margin.
        let last_y: u32 = content
            .lines()
            .last()
            .unwrap()
            .split_whitespace()
            .nth(5)
            .unwrap()
            .parse()
            .unwrap();
        assert!(last_y >= 72, "{last_y}");
    }

    #[test]
    fn the_pdf_masks_a_full_tin_passed_by_mistake() {
        let mut leaky = form();
        leaky.recipient_tin_masked = "123456789".into();
        let content = check_structure(&to_pdf(&leaky));
        assert!(content.contains("(TIN: ***-**-6789)"));
        assert!(!content.contains("12345"));
    }

    #[quickcheck]
    fn any_names_give_a_well_formed_pdf(name: String, payer: String, address: Vec<String>) -> bool {
        let mut f = form();
        f.recipient_name = name.clone();
        f.payer_name = payer;
        f.recipient_address = address;
        let content = check_structure(&to_pdf(&f));
        let expected: Vec<u8> = clip(&name)
            .chars()
            .map(|c| winansi(c).filter(|&b| b >= 0x20).unwrap_or(b'?'))
            .collect();
        shown_strings(&content)[5] == expected
    }
}
