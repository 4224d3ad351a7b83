//! Refresh tokens at rest: sealed with ChaCha20-Poly1305 under a key kept outside the database (the config's
//! `google.token_key`, or a file beside the embedded database), so a copy of the database alone does not hand
//! out access to anyone's Google Contacts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

pub struct SealKey(LessSafeKey);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// What a sealed value is bound to: a token sealed for one user cannot be moved to another's row.
fn aad(user_id: i64) -> Aad<[u8; 8]> {
    Aad::from(user_id.to_be_bytes())
}

impl SealKey {
    /// A key from its base64 form (32 bytes).
    pub fn from_base64(text: &str) -> Result<SealKey, String> {
        let bytes = B64.decode(text.trim()).map_err(|_| "the token key is not base64".to_string())?;
        let key =
            UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| "the token key must be 32 bytes".to_string())?;
        Ok(SealKey(LessSafeKey::new(key)))
    }

    /// A new random key, in its base64 form.
    pub fn generate() -> Result<String, String> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| format!("no randomness: {e}"))?;
        Ok(B64.encode(k))
    }

    /// The key in `path`, made (readable by this user only) when missing.
    pub fn from_file(path: &std::path::Path) -> Result<SealKey, String> {
        if !path.exists() {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            f.write_all(Self::generate()?.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            f.sync_all().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn seal(&self, user_id: i64, plain: &str) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("no randomness: {e}"))?;
        let mut data = plain.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(user_id), &mut data)
            .map_err(|_| "sealing failed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend(data);
        Ok(B64.encode(out))
    }

    /// The plain value, or `None` when it was not sealed by this key for this user.
    pub fn open(&self, user_id: i64, sealed: &str) -> Option<String> {
        let bytes = B64.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = rest.to_vec();
        let plain = self.0.open_in_place(nonce, aad(user_id), &mut data).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_for_their_user_and_key() {
        let key = SealKey::from_base64(&SealKey::generate().unwrap()).unwrap();
        let sealed = key.seal(7, "1//refresh-token").unwrap();
        assert!(!sealed.contains("refresh"));
        assert_eq!(key.open(7, &sealed).as_deref(), Some("1//refresh-token"));
        assert_eq!(key.open(8, &sealed), None, "bound to its user");
        let other = SealKey::from_base64(&SealKey::generate().unwrap()).unwrap();
        assert_eq!(other.open(7, &sealed), None, "bound to its key");
        assert_ne!(key.seal(7, "1//refresh-token").unwrap(), sealed, "a fresh nonce each time");
        assert!(SealKey::from_base64("c2hvcnQ=").is_err());
    }
}
