//! argon2id: hashing with the configured cost, and verifying into memory each thread keeps, so a burst of
//! sign-ins reuses a few blocks of memory instead of allocating (and leaving the allocator holding) one per
//! attempt. Pure and blocking: callers run these on the CPU pool (`cpu::run`).

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;

/// The cost of new hashes; existing hashes are verified with the cost they were made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Cost {
    /// OWASP's first argon2id choice (19 MiB, 2 passes, 1 lane), argon2's own default.
    fn default() -> Self {
        Cost { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

impl Cost {
    pub fn params(&self) -> Result<Params, String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None).map_err(|e| {
            format!(
                "argon2 parameters ({} KiB, {} passes, {} lanes): {e}",
                self.memory_kib, self.iterations, self.parallelism
            )
        })
    }
}

pub fn hash(password: &str, cost: Cost) -> Result<String, String> {
    let mut salt_bytes = [0u8; 16];
    getrandom::fill(&mut salt_bytes).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params()?);
    argon.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

thread_local! {
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Whether `password` matches the PHC string `stored` (any argon2 variant and cost).
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    let hashed = MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < params.block_count() {
            memory.resize(params.block_count(), Block::default());
        }
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..params.block_count()])
    });
    // Compared in constant time: the output is a secret until it matches.
    hashed.is_ok()
        && out.len() == expected.len()
        && out.iter().zip(expected.as_bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[test]
    fn verifies_what_argon2_verifies_at_any_cost_and_reuses_its_memory() {
        let cheap = Cost { memory_kib: 1024, iterations: 1, parallelism: 1 };
        for cost in [cheap, Cost::default()] {
            let h = hash("correct horse", cost).unwrap();
            assert!(verify("correct horse", &h));
            assert!(!verify("wrong", &h));
            let parsed = PasswordHash::new(&h).unwrap();
            assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        }
        // A hash made by argon2's own defaults (every password stored before costs were a setting).
        let salt = SaltString::encode_b64(&[3u8; 16]).unwrap();
        let old = Argon2::default().hash_password(b"older one", &salt).unwrap().to_string();
        assert!(verify("older one", &old));
        assert!(MEMORY.with(|m| m.borrow().len()) >= 19_456, "the larger block set stays for the next check");
        assert!(!verify("x", "not a hash"));
        assert!(Cost { memory_kib: 1, iterations: 1, parallelism: 1 }.params().is_err());
    }
}
