//! Generated container names, Docker style: adjective_surname.

const LEFT: &[&str] = &[
    "admiring", "bold", "brave", "busy", "clever", "eager", "focused", "gallant", "happy", "jolly",
    "keen", "lucid", "modest", "nifty", "quirky", "serene", "sharp", "stoic", "tender", "vibrant",
];
const RIGHT: &[&str] = &[
    "babbage", "curie", "darwin", "einstein", "feynman", "galileo", "hopper", "kepler", "lovelace",
    "meitner", "newton", "noether", "pasteur", "ritchie", "shannon", "tesla", "thompson", "turing",
    "wozniak", "yonath",
];

pub fn generate() -> String {
    let a: usize = rand::random::<usize>() % LEFT.len();
    let b: usize = rand::random::<usize>() % RIGHT.len();
    format!("{}_{}", LEFT[a], RIGHT[b])
}
