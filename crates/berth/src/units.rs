//! Sizes as the docker CLI prints them (go-units): powers of 1000 and `%.Ng`, so N significant
//! digits with trailing zeros dropped. The CLI uses four digits for `system df`, progress and
//! prune reports (`HumanSize`), three for `images` and `ps -s` (`HumanSizeWithPrecision(…, 3)`).

/// `units.HumanSize`: four significant digits.
pub fn human_size(n: u64) -> String {
    human_size_with_precision(n, 4)
}

/// `units.HumanSizeWithPrecision(n, digits)`.
pub fn human_size_with_precision(n: u64, digits: usize) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as usize) + 1
    };
    let mut s = format!("{:.*}", digits.saturating_sub(int_digits), v);
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::{human_size, human_size_with_precision};

    #[test]
    fn four_digits_as_system_df_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(2_126_848), "2.127MB");
        assert_eq!(human_size(1_500), "1.5kB");
        assert_eq!(human_size(12_000_000), "12MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
    }

    #[test]
    fn three_digits_as_images_prints_them() {
        assert_eq!(human_size_with_precision(1_239_820, 3), "1.24MB");
        assert_eq!(human_size_with_precision(72_800_000, 3), "72.8MB");
        assert_eq!(human_size_with_precision(4_096, 3), "4.1kB");
        assert_eq!(human_size_with_precision(0, 3), "0B");
    }
}
