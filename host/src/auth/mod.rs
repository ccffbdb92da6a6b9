//! SMTP AUTH: password checks against argon2 hashes, how many run at once, and the failure
//! limiter.

mod checks;
mod limiter;

pub use checks::{Checked, PasswordChecks};
pub use limiter::{Begin, FailureLimiter, Pending};

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Checked when the user is unknown, so that an unknown user costs the same time as a wrong
/// password (the hash of a random string with the default parameters).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$QY9+OiVwDVhCgJkuz+sHGw$ILAYnsDtvVFqf3kC7t0DsFgJ2X1/VJtWWe7UCFX9geE";

/// Verifies `password` against `hash` (or the dummy when the user is unknown), filling
/// `memory` with argon2's working blocks (grown to what the hash's parameters ask, and kept
/// by the caller for the next check: one 19 MiB allocation per checker, not per attempt).
/// CPU-heavy: call from a blocking thread.
pub fn verify_password(hash: Option<&str>, password: &[u8], memory: &mut Vec<Block>) -> bool {
    let known = hash.is_some();
    let Ok(parsed) = PasswordHash::new(hash.unwrap_or(DUMMY_HASH)) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm);
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&parsed))
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut computed = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut computed,
        &mut memory[..blocks],
    );
    // `Output`'s comparison is constant-time.
    hashed.is_ok() && Output::new(&computed).is_ok_and(|c| c == expected) && known
}

/// Hashes a password for the config file.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_parses_and_never_matches() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        let mut memory = Vec::new();
        assert!(!verify_password(None, b"anything", &mut memory));
        assert_eq!(memory.len(), 19456, "one block per KiB of m_cost");
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password(Some(&h), b"s3cret", &mut memory));
        assert!(!verify_password(Some(&h), b"wrong", &mut memory));
        assert!(!verify_password(Some("not a hash"), b"s3cret", &mut memory));
    }

    #[test]
    fn reused_memory_gives_the_same_answers_for_other_parameters() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 3, 1, None).unwrap(),
        )
        .hash_password(b"pw", &salt)
        .unwrap()
        .to_string();
        let mut memory = Vec::new();
        assert!(!verify_password(None, b"pw", &mut memory));
        // A larger buffer left over from the dummy check: only its first 64 blocks are used.
        assert!(verify_password(Some(&small), b"pw", &mut memory));
        assert!(!verify_password(Some(&small), b"pW", &mut memory));
    }
}
