//! The 统一社会信用代码 (Unified Social Credit Code, GB 32100-2015): 18 characters, the last
//! a check character computed from the first 17 with weights 3^i mod 31.

/// The 31 characters a USCC may use (GB 32100-2015 §4.2: no I, O, S, V, Z).
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights for positions 1..=17 (3^(i-1) mod 31).
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

fn code_of(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// The check character for the first 17 characters, or `None` if one of them is not in the
/// USCC alphabet.
pub fn check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (i, &b) in bytes.iter().enumerate() {
        sum += code_of(b)? * WEIGHTS[i];
    }
    let check = (31 - sum % 31) % 31;
    Some(ALPHABET[check as usize] as char)
}

/// Checks a USCC; the error says what is wrong in words an integrator can act on.
pub fn validate(code: &str) -> Result<(), String> {
    if code.chars().count() != 18 {
        return Err(format!("{code:?} has {} characters, a USCC has 18", code.chars().count()));
    }
    if let Some(bad) = code.chars().find(|c| !c.is_ascii() || code_of(*c as u8).is_none()) {
        return Err(format!(
            "{code:?} contains {bad:?}; a USCC uses only 0-9 and A-Z without I, O, S, V, Z"
        ));
    }
    let expected = check_char(&code[..17]).ok_or_else(|| format!("{code:?} is not a USCC"))?;
    let got = code.as_bytes()[17] as char;
    if got != expected {
        return Err(format!("{code:?} has check character {got:?}, expected {expected:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_published_codes() {
        // Codes printed on public business licences.
        for code in ["91350100M000100Y43", "91110000802100433B", "914403001922038216"] {
            assert_eq!(validate(code), Ok(()), "{code}");
        }
    }

    #[test]
    fn rejects_wrong_check_character() {
        let err = validate("91350100M000100Y44").unwrap_err();
        assert!(err.contains("expected '3'"), "{err}");
    }

    #[test]
    fn rejects_letters_outside_the_alphabet_and_wrong_length() {
        assert!(validate("91440300MA5DEMO001").unwrap_err().contains("'O'"));
        assert!(validate("9144").unwrap_err().contains("18"));
    }
}
