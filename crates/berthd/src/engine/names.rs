//! Generated container names, Docker style: adjective_surname. When the first picks are taken
//! a digit is appended, and after a few tries the container's short ID is its name (as Docker
//! falls back), so naming never loops however many containers exist.

const LEFT: &[&str] = &[
    "admiring",
    "agile",
    "amazing",
    "awesome",
    "blissful",
    "bold",
    "brave",
    "bright",
    "busy",
    "calm",
    "careful",
    "charming",
    "cheerful",
    "clever",
    "cool",
    "curious",
    "daring",
    "dazzling",
    "determined",
    "eager",
    "elated",
    "elegant",
    "epic",
    "fervent",
    "fond",
    "focused",
    "friendly",
    "gallant",
    "gentle",
    "gifted",
    "gracious",
    "happy",
    "hopeful",
    "humble",
    "inspired",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "lively",
    "loyal",
    "lucid",
    "merry",
    "modest",
    "nifty",
    "noble",
    "optimistic",
    "patient",
    "peaceful",
    "playful",
    "polite",
    "proud",
    "quiet",
    "quirky",
    "radiant",
    "relaxed",
    "serene",
    "sharp",
    "sleepy",
    "smart",
    "steady",
    "stoic",
    "sunny",
    "tender",
    "thirsty",
    "trusting",
    "upbeat",
    "vibrant",
    "vigilant",
    "warm",
    "wise",
    "witty",
    "youthful",
    "zealous",
    "zen",
];

const RIGHT: &[&str] = &[
    "agnesi",
    "archimedes",
    "babbage",
    "bardeen",
    "bell",
    "bohr",
    "boole",
    "bose",
    "brahmagupta",
    "carson",
    "cerf",
    "chandrasekhar",
    "clarke",
    "curie",
    "darwin",
    "dijkstra",
    "dirac",
    "einstein",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gauss",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hertz",
    "hodgkin",
    "hopper",
    "hypatia",
    "johnson",
    "joule",
    "kelvin",
    "kepler",
    "khayyam",
    "knuth",
    "lamarr",
    "laplace",
    "lovelace",
    "maxwell",
    "mayer",
    "meitner",
    "mendel",
    "mirzakhani",
    "morse",
    "newton",
    "nobel",
    "noether",
    "ohm",
    "pascal",
    "pasteur",
    "planck",
    "poincare",
    "ramanujan",
    "ritchie",
    "rubin",
    "sagan",
    "shannon",
    "somerville",
    "swartz",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "volta",
    "wilson",
    "wozniak",
    "wright",
    "yalow",
    "yonath",
];

/// How many random names are tried before the short ID is used.
const TRIES: usize = 6;

/// A name nobody has (`taken` says who has): adjective_surname, then with a digit appended,
/// then the first 12 characters of `id`.
pub fn pick(id: &str, taken: impl Fn(&str) -> bool) -> String {
    for attempt in 0..TRIES {
        let name = random(attempt > 0);
        if !taken(&name) {
            return name;
        }
    }
    id.chars().take(12).collect()
}

fn random(with_digit: bool) -> String {
    let a = LEFT[rand::random::<usize>() % LEFT.len()];
    let b = RIGHT[rand::random::<usize>() % RIGHT.len()];
    if with_digit {
        format!("{a}_{b}{}", rand::random::<u8>() % 10)
    } else {
        format!("{a}_{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_adjective_underscore_surname() {
        let n = pick("0123456789abcdef", |_| false);
        let (a, b) = n.split_once('_').expect("underscore");
        assert!(LEFT.contains(&a) && RIGHT.contains(&b), "{n}");
    }

    #[test]
    fn falls_back_to_the_short_id_when_every_try_is_taken() {
        assert_eq!(pick("0123456789abcdef", |_| true), "0123456789ab");
    }

    #[test]
    fn a_taken_first_pick_gets_a_digit() {
        let n = pick("0123456789abcdef", |n| {
            !n.ends_with(|c: char| c.is_ascii_digit())
        });
        assert!(n.ends_with(|c: char| c.is_ascii_digit()), "{n}");
    }

    #[test]
    fn lists_hold_no_duplicates() {
        for list in [LEFT, RIGHT] {
            let mut v = list.to_vec();
            v.sort();
            v.dedup();
            assert_eq!(v.len(), list.len());
        }
    }
}
