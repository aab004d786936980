//! Software tokens: TOTP (RFC 6238) over HOTP (RFC 4226) with HMAC-SHA-1, 6 digits, a
//! 30-second step and one step of clock skew either way; the secret in base32 (RFC 4648)
//! and the `otpauth://totp/` URI that authenticator apps read. The HMAC is aws-lc's, the
//! base32 `data-encoding`'s.

use aws_lc_rs::hmac;

/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Seconds of one time step.
pub const STEP_SECS: u64 = 30;
/// Steps of clock skew accepted either way.
pub const SKEW_STEPS: u64 = 1;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;
/// The issuer in the URI.
pub const ISSUER: &str = "cloudhsm-mfa";

/// HOTP (RFC 4226 §5.3): the `digits`-digit value for `counter`.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    truncate(tag.as_ref(), digits)
}

/// HOTP's dynamic truncation (RFC 4226 §5.3) of a MAC of at least 20 bytes to `digits`
/// decimal digits.
pub fn truncate(mac: &[u8], digits: u32) -> u32 {
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    binary % 10u32.pow(digits)
}

/// The time step of Unix time `unix_secs`.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The code for `secret` at time step `step`, zero-padded to [`DIGITS`].
pub fn code_for_step(secret: &[u8], step: u64) -> String {
    format!(
        "{:0width$}",
        hotp(secret, step, DIGITS),
        width = DIGITS as usize
    )
}

/// The code for `secret` at Unix time `unix_secs`.
pub fn code_at(secret: &[u8], unix_secs: u64) -> String {
    code_for_step(secret, step_of(unix_secs))
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// The code is not 6 digits, or matches no step within the skew.
    Mismatch,
    /// The code matches a step at or before the last one used: used already.
    Reused,
}

/// Checks `code` against `secret` at Unix time `unix_secs`, accepting the current step and
/// one either side; a step at or before `last_used` (the step of the last code accepted,
/// the verification's included) is a reuse. Returns the step the code matched, to be
/// remembered as the new `last_used`. Compares in constant time.
pub fn verify(
    secret: &[u8],
    code: &str,
    unix_secs: u64,
    last_used: Option<u64>,
) -> Result<u64, CodeRefusal> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeRefusal::Mismatch);
    }
    let now = step_of(unix_secs);
    let mut matched = None;
    for step in now.saturating_sub(SKEW_STEPS)..=now + SKEW_STEPS {
        let expected = code_for_step(secret, step);
        if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), code.as_bytes())
            .is_ok()
        {
            matched = Some(step);
        }
    }
    match matched {
        None => Err(CodeRefusal::Mismatch),
        Some(step) if last_used.is_some_and(|last| step <= last) => Err(CodeRefusal::Reused),
        Some(step) => Ok(step),
    }
}

/// The secret as authenticator apps take it: base32, upper case, no padding.
pub fn encode_secret(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// Reads a base32 secret (upper or lower case, padded or not, spaces ignored).
pub fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD
        .decode(cleaned.as_bytes())
        .map_err(|e| format!("the secret is not base32: {e}"))
}

/// The `otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30`
/// URI for `secret` and `account` (e.g. `alice@cluster-1`).
pub fn uri(secret: &[u8], account: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent(ISSUER),
        percent(account),
        encode_secret(secret),
        percent(ISSUER)
    )
}

/// Percent-encodes everything but unreserved characters (RFC 3986) and `@`.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_4226_appendix_d_hotp_values() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(
                hotp(RFC_SECRET, counter as u64, 6),
                *want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        for (time, want) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(RFC_SECRET, step_of(time), 8), want, "T = {time}");
            // The 6-digit codes are the last 6 digits.
            assert_eq!(
                code_at(RFC_SECRET, time),
                format!("{:06}", want % 1_000_000),
                "T = {time}"
            );
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_way_and_not_two() {
        let t = 1_700_000_000;
        let code = code_at(RFC_SECRET, t);
        assert_eq!(verify(RFC_SECRET, &code, t, None), Ok(step_of(t)));
        assert_eq!(
            verify(RFC_SECRET, &code, t + STEP_SECS, None),
            Ok(step_of(t))
        );
        assert_eq!(
            verify(RFC_SECRET, &code, t - STEP_SECS, None),
            Ok(step_of(t))
        );
        assert_eq!(
            verify(RFC_SECRET, &code, t + 2 * STEP_SECS, None),
            Err(CodeRefusal::Mismatch)
        );
        assert_eq!(
            verify(RFC_SECRET, &code, t - 2 * STEP_SECS, None),
            Err(CodeRefusal::Mismatch)
        );
    }

    #[test]
    fn a_used_code_is_refused_in_its_window_and_an_earlier_one_too() {
        let t = 1_700_000_000;
        let step = verify(RFC_SECRET, &code_at(RFC_SECRET, t), t, None).unwrap();
        assert_eq!(
            verify(RFC_SECRET, &code_at(RFC_SECRET, t), t + 10, Some(step)),
            Err(CodeRefusal::Reused)
        );
        let earlier = code_at(RFC_SECRET, t - STEP_SECS);
        assert_eq!(
            verify(RFC_SECRET, &earlier, t, Some(step)),
            Err(CodeRefusal::Reused)
        );
        let next = code_at(RFC_SECRET, t + STEP_SECS);
        assert_eq!(
            verify(RFC_SECRET, &next, t + STEP_SECS, Some(step)),
            Ok(step + 1)
        );
    }

    #[test]
    fn malformed_codes_mismatch() {
        for bad in ["", "12345", "1234567", "12345a", " 123456"] {
            assert_eq!(
                verify(RFC_SECRET, bad, 59, None),
                Err(CodeRefusal::Mismatch),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn secrets_round_trip_through_base32_and_the_uri_names_issuer_and_account() {
        let secret = [0xA5u8; SECRET_LEN];
        let text = encode_secret(&secret);
        assert_eq!(text.len(), 32);
        assert!(!text.contains('='));
        assert_eq!(decode_secret(&text).unwrap(), secret);
        assert_eq!(decode_secret(&text.to_lowercase()).unwrap(), secret);
        assert_eq!(
            encode_secret(RFC_SECRET),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert!(decode_secret("not base32!").is_err());
        assert_eq!(
            uri(RFC_SECRET, "alice@cluster 1"),
            "otpauth://totp/cloudhsm-mfa:alice@cluster%201?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=cloudhsm-mfa&algorithm=SHA1&digits=6&period=30"
        );
    }
}
