//! The approval record (SPEC §2.3, §7): what one HSM puts in a quorum token's
//! `approval_data`. An approval file's `approval_data` is one record per HSM, concatenated
//! in the order of the cluster configuration, and its `token` is SHA-256 of the whole; a
//! registration file carries one record per entry.
//!
//! Layout version 1: 80 bytes, integers big-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | layout version (1) |
//! | 1 | 1 | service: 1 `user`, 2 `quorum`, 3 `registration` |
//! | 2 | 2 | reserved, zero |
//! | 4 | 4 | creation time, Unix seconds |
//! | 8 | 8 | token id, random, unique on the HSM |
//! | 16 | 16 | random bytes |
//! | 32 | 16 | the HSM's id, ASCII, NUL-padded |
//! | 48 | 32 | the requesting user, lower case ASCII, NUL-padded |

use crate::crypto::{sha256, Token};

use super::Service;

/// The layout version this library writes and reads.
pub const LAYOUT_VERSION: u8 = 1;
/// The size of one record.
pub const RECORD_LEN: usize = 80;
/// The longest HSM id a record holds.
pub const MAX_HSM_ID_LEN: usize = 16;
/// The most records an approval holds: one per HSM of a cluster.
pub const MAX_RECORDS: usize = crate::token_file::MAX_TOKENS;

/// One HSM's record of a quorum token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub service: Service,
    /// When the HSM issued the token, in Unix seconds.
    pub created: u32,
    /// The token's id on the HSM.
    pub token_id: u64,
    pub random: [u8; 16],
    /// The HSM that issued it.
    pub hsm_id: String,
    /// The user it was issued to (lower case).
    pub username: String,
}

fn service_byte(service: Service) -> u8 {
    match service {
        Service::User => 1,
        Service::Quorum => 2,
        Service::Registration => 3,
    }
}

fn put_text(out: &mut [u8], text: &str, what: &str) -> Result<(), String> {
    if !text.is_ascii() || text.len() > out.len() || text.contains('\0') {
        return Err(format!(
            "{what} {text:?} does not fit an approval record ({} ASCII characters at most)",
            out.len()
        ));
    }
    out[..text.len()].copy_from_slice(text.as_bytes());
    Ok(())
}

fn get_text(field: &[u8], what: &str) -> Result<String, String> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    if field[end..].iter().any(|&b| b != 0) || !field[..end].is_ascii() {
        return Err(format!("the {what} field is not NUL-padded ASCII"));
    }
    if end == 0 {
        return Err(format!("the {what} field is empty"));
    }
    Ok(String::from_utf8_lossy(&field[..end]).into_owned())
}

impl Record {
    /// The record's 80 bytes; an error when the HSM id or the user name does not fit.
    pub fn encode(&self) -> Result<[u8; RECORD_LEN], String> {
        let mut out = [0u8; RECORD_LEN];
        out[0] = LAYOUT_VERSION;
        out[1] = service_byte(self.service);
        out[4..8].copy_from_slice(&self.created.to_be_bytes());
        out[8..16].copy_from_slice(&self.token_id.to_be_bytes());
        out[16..32].copy_from_slice(&self.random);
        put_text(&mut out[32..48], &self.hsm_id, "HSM id")?;
        put_text(&mut out[48..80], &self.username, "user name")?;
        Ok(out)
    }

    /// Reads one record; the error says which field is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Record, String> {
        if bytes.len() != RECORD_LEN {
            return Err(format!(
                "an approval record is {RECORD_LEN} bytes, not {}",
                bytes.len()
            ));
        }
        if bytes[0] != LAYOUT_VERSION {
            return Err(format!(
                "approval record layout version {} is not the supported version {LAYOUT_VERSION}",
                bytes[0]
            ));
        }
        let service = match bytes[1] {
            1 => Service::User,
            2 => Service::Quorum,
            3 => Service::Registration,
            other => return Err(format!("approval record service {other} is not 1, 2 or 3")),
        };
        if bytes[2..4] != [0, 0] {
            return Err("the reserved bytes of an approval record are not zero".into());
        }
        let mut random = [0u8; 16];
        random.copy_from_slice(&bytes[16..32]);
        Ok(Record {
            service,
            created: u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes")),
            token_id: u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes")),
            random,
            hsm_id: get_text(&bytes[32..48], "HSM id")?,
            username: get_text(&bytes[48..80], "user name")?,
        })
    }
}

/// The records of an approval's `approval_data`, in order; the error names the record.
pub fn split(approval_data: &[u8]) -> Result<Vec<Record>, String> {
    if approval_data.is_empty() || !approval_data.len().is_multiple_of(RECORD_LEN) {
        return Err(format!(
            "approval_data is {} bytes, not a whole number of {RECORD_LEN}-byte records",
            approval_data.len()
        ));
    }
    let count = approval_data.len() / RECORD_LEN;
    if count > MAX_RECORDS {
        return Err(format!(
            "approval_data holds {count} records; a cluster has at most {MAX_RECORDS} HSMs"
        ));
    }
    approval_data
        .chunks(RECORD_LEN)
        .enumerate()
        .map(|(i, chunk)| Record::decode(chunk).map_err(|e| format!("approval record {i}: {e}")))
        .collect()
}

/// The token approvers sign: SHA-256 of the whole `approval_data`.
pub fn token_of(approval_data: &[u8]) -> Token {
    sha256(approval_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(hsm: &str) -> Record {
        Record {
            service: Service::User,
            created: 1_764_590_000,
            token_id: 0x0102_0304_0506_0708,
            random: [7; 16],
            hsm_id: hsm.into(),
            username: "admin2".into(),
        }
    }

    #[test]
    fn a_record_round_trips_in_80_bytes_at_the_documented_offsets() {
        let r = record("hsm-1");
        let bytes = r.encode().unwrap();
        assert_eq!(bytes.len(), 80);
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1], 1);
        assert_eq!(&bytes[4..8], &1_764_590_000u32.to_be_bytes());
        assert_eq!(&bytes[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[32..37], b"hsm-1");
        assert_eq!(&bytes[48..54], b"admin2");
        assert_eq!(Record::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn three_hsms_make_240_bytes_whose_sha256_is_the_token() {
        let data: Vec<u8> = ["hsm-1", "hsm-2", "hsm-3"]
            .iter()
            .flat_map(|h| record(h).encode().unwrap())
            .collect();
        assert_eq!(data.len(), 240);
        let records = split(&data).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2].hsm_id, "hsm-3");
        assert_eq!(token_of(&data), sha256(&data));
    }

    #[test]
    fn bad_records_are_refused_naming_the_field() {
        let good = record("hsm-1").encode().unwrap();
        assert!(split(&good[..79]).unwrap_err().contains("79 bytes"));
        assert!(split(&[]).unwrap_err().contains("0 bytes"));
        let mut v = good;
        v[0] = 2;
        assert!(Record::decode(&v).unwrap_err().contains("layout version 2"));
        let mut s = good;
        s[1] = 9;
        assert!(Record::decode(&s).unwrap_err().contains("service 9"));
        let mut r = good;
        r[3] = 1;
        assert!(Record::decode(&r).unwrap_err().contains("reserved"));
        let mut h = good;
        h[40] = b'x';
        assert!(Record::decode(&h).unwrap_err().contains("HSM id"));
        let mut u = good;
        u[48..80].fill(0);
        assert!(Record::decode(&u)
            .unwrap_err()
            .contains("user name field is empty"));
        let mut two = good.to_vec();
        two.extend_from_slice(&s);
        assert!(split(&two).unwrap_err().starts_with("approval record 1:"));
        let many = good.repeat(MAX_RECORDS + 1);
        assert!(split(&many).unwrap_err().contains("at most"));
        assert!(record(&"h".repeat(17))
            .encode()
            .unwrap_err()
            .contains("HSM id"));
    }
}
