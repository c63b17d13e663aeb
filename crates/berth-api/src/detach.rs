//! Docker's detach keys: the sequence that leaves an attached session and lets the container
//! run on. Both ends look for it: the daemon (for any client) and berth's CLI (to know that it
//! detached rather than saw the container end).

/// Docker's detach keys (`ctrl-p,ctrl-q` by default) as bytes; the error names the value.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("Invalid detach keys ({spec}) provided");
    let mut keys = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        if let Some(c) = part.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(bad()),
            };
            keys.push(b);
        } else if part.len() == 1 {
            keys.push(part.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    if keys.is_empty() {
        return Err(bad());
    }
    Ok(keys)
}

/// Finds the detach sequence in a client's input, across reads.
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    pub fn new(keys: Vec<u8>) -> Self {
        DetachScanner { keys, matched: 0 }
    }

    /// Input to pass on for `chunk`, and whether the sequence completed (the rest is dropped).
    /// Bytes held as a possible start of the sequence are passed on once it does not complete.
    pub fn scan(&mut self, chunk: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(chunk.len());
        for &b in chunk {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                    if self.keys.len() == 1 {
                        return (out, true);
                    }
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_as_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(parse_detach_keys("ctrl-@,a"), Ok(vec![0, b'a']));
        assert_eq!(
            parse_detach_keys("ctrl-pp"),
            Err("Invalid detach keys (ctrl-pp) provided".to_string())
        );
        assert!(parse_detach_keys("").is_err());
    }

    #[test]
    fn scanner_passes_input_and_finds_the_sequence_across_reads() {
        let mut s = DetachScanner::new(vec![16, 17]);
        assert_eq!(s.scan(b"ls\n"), (b"ls\n".to_vec(), false));
        assert_eq!(s.scan(&[b'x', 16]), (b"x".to_vec(), false));
        // A held ctrl-p that is not followed by ctrl-q reaches the container after all.
        assert_eq!(s.scan(b"y"), (vec![16, b'y'], false));
        assert_eq!(s.scan(&[16, 16]), (vec![16], false));
        assert_eq!(s.scan(&[17, b'z']), (vec![], true));
    }
}
