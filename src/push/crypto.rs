//! Web Push message encryption (RFC 8291, the aes128gcm content coding of RFC 8188) and the VAPID token that
//! identifies this server to push services (RFC 8292), on ring alone.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::{aead, agreement, hkdf, signature};

/// RFC 8188 §2: one record holds the whole message; push services must accept 4,096 bytes (RFC 8030 §7.2).
const RECORD_SIZE: u32 = 4096;
/// The header RFC 8188 §2.1 puts before the record: salt (16), rs (4), idlen (1), the sender's key (65).
const HEADER_LEN: usize = 16 + 4 + 1 + 65;
/// What a message's plaintext may hold so the encrypted body fits one record: the padding delimiter and the
/// AEAD tag (16) take the rest.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - HEADER_LEN - 1 - 16;

#[derive(Debug, PartialEq, Eq)]
pub struct CryptoError(pub String);

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail(what: &str) -> CryptoError {
    CryptoError(what.to_string())
}

/// A subscription's keys as the client registered them (RFC 8291 §2 and §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionKeys {
    /// The user agent's P-256 public key, uncompressed (65 bytes, leading 0x04).
    pub p256dh: Vec<u8>,
    /// The 16-byte authentication secret.
    pub auth: Vec<u8>,
}

impl SubscriptionKeys {
    /// Keys as stored, checked when they were registered (`from_text`): only decoded, no trial agreement per
    /// message.
    pub fn stored(p256dh: &str, auth: &str) -> Result<SubscriptionKeys, CryptoError> {
        let p256dh = decode(p256dh).ok_or_else(|| fail("the stored public key is not base64url"))?;
        let auth = decode(auth).ok_or_else(|| fail("the stored auth secret is not base64url"))?;
        Ok(SubscriptionKeys { p256dh, auth })
    }

    /// Keys from their base64url text (padding tolerated), checked for the sizes and form RFC 8291 requires.
    pub fn from_text(p256dh: &str, auth: &str) -> Result<SubscriptionKeys, CryptoError> {
        let p256dh = decode(p256dh).ok_or_else(|| fail("the subscription's public key is not base64url"))?;
        let auth = decode(auth).ok_or_else(|| fail("the auth secret is not base64url"))?;
        if p256dh.len() != 65 || p256dh[0] != 0x04 {
            return Err(fail("the subscription's public key is not an uncompressed P-256 point (65 bytes)"));
        }
        if auth.len() != 16 {
            return Err(fail("the auth secret is not 16 bytes"));
        }
        // ECDH with a throwaway key proves the point lies on the curve, so a bad key is refused at
        // registration rather than at every message.
        let rng = SystemRandom::new();
        let probe =
            agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).map_err(|_| fail("no randomness"))?;
        agreement::agree_ephemeral(probe, &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &p256dh), |_| ())
            .map_err(|_| fail("the subscription's public key is not a point on P-256"))?;
        Ok(SubscriptionKeys { p256dh, auth })
    }
}

pub fn encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim().trim_end_matches('=');
    // Some clients send standard base64; the alphabet differs in two characters only.
    B64.decode(t.replace('+', "-").replace('/', "_")).ok()
}

/// The body of one push message for `keys`: a fresh ephemeral key and salt each time (RFC 8291 §3.1).
pub fn encrypt(keys: &SubscriptionKeys, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(fail("the message is larger than one record"));
    }
    let rng = SystemRandom::new();
    let ephemeral =
        agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).map_err(|_| fail("no randomness"))?;
    let as_public = ephemeral.compute_public_key().map_err(|_| fail("cannot compute the public key"))?;
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&rng, &mut salt).map_err(|_| fail("no randomness"))?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &keys.p256dh);
    let secret = agreement::agree_ephemeral(ephemeral, &peer, |s| s.to_vec())
        .map_err(|_| fail("the subscription's public key is not a point on P-256"))?;
    seal(&secret, keys, as_public.as_ref(), &salt, plaintext)
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, info: &[&[u8]], len: usize) -> Result<Vec<u8>, CryptoError> {
    let mut out = vec![0u8; len];
    prk.expand(info, Len(len)).and_then(|okm| okm.fill(&mut out)).map_err(|_| fail("HKDF expand failed"))?;
    Ok(out)
}

/// RFC 8291 §3.3–§3.4 and RFC 8188 §2 for a given shared secret, sender key and salt: the deterministic part,
/// which the RFC's worked example pins.
pub fn seal(
    ecdh_secret: &[u8],
    keys: &SubscriptionKeys,
    as_public: &[u8],
    salt: &[u8; 16],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    // PRK_key = HKDF-Extract(auth_secret, ecdh_secret); IKM = HKDF-Expand(PRK_key, key_info, 32).
    let prk_key = hkdf::Salt::new(hkdf::HKDF_SHA256, &keys.auth).extract(ecdh_secret);
    let ikm = expand(&prk_key, &[b"WebPush: info\0", &keys.p256dh, as_public], 32)?;
    // PRK = HKDF-Extract(salt, IKM); the content key and nonce of RFC 8188 §2.2 and §2.3.
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&ikm);
    let cek = expand(&prk, &[b"Content-Encoding: aes128gcm\0"], 16)?;
    let nonce = expand(&prk, &[b"Content-Encoding: nonce\0"], 12)?;
    let key =
        aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).map_err(|_| fail("bad content key"))?);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| fail("bad nonce"))?;
    // The last (and only) record ends with the delimiter 0x02 and no padding (RFC 8188 §2).
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    record.push(2);
    key.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::empty(), &mut record)
        .map_err(|_| fail("encryption failed"))?;
    let mut body = Vec::with_capacity(HEADER_LEN + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

/// The server's VAPID key pair (RFC 8292 §3.2: ECDSA on P-256), kept as PKCS#8 in the database.
pub struct Vapid {
    pair: signature::EcdsaKeyPair,
}

impl Vapid {
    /// A new key pair's PKCS#8 document, base64url.
    pub fn generate() -> Result<String, CryptoError> {
        let rng = SystemRandom::new();
        let doc = signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| fail("cannot generate a VAPID key"))?;
        Ok(encode(doc.as_ref()))
    }

    pub fn from_pkcs8(text: &str) -> Result<Vapid, CryptoError> {
        let der = decode(text).ok_or_else(|| fail("the stored VAPID key is not base64url"))?;
        let pair = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &SystemRandom::new(),
        )
        .map_err(|_| fail("the stored VAPID key is not a P-256 key"))?;
        Ok(Vapid { pair })
    }

    /// The public key as clients and push services see it: uncompressed, base64url.
    pub fn public_key(&self) -> String {
        encode(signature::KeyPair::public_key(&self.pair).as_ref())
    }

    /// The `Authorization` header for a message to a push resource of `origin` (RFC 8292 §2 and §3): a JWT
    /// (ES256) naming the origin as audience, expiring at `expires` (at most 24 hours ahead, §2), with `subject`
    /// as a contact for the push service.
    pub fn authorization(&self, origin: &str, expires: i64, subject: &str) -> Result<String, CryptoError> {
        let header = encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": origin, "exp": expires, "sub": subject });
        let claims = encode(claims.to_string().as_bytes());
        let input = format!("{header}.{claims}");
        let sig = self.pair.sign(&SystemRandom::new(), input.as_bytes()).map_err(|_| fail("signing failed"))?;
        Ok(format!("vapid t={input}.{}, k={}", encode(sig.as_ref()), self.public_key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    // RFC 8291 §5 (Appendix A lists the intermediate values): the worked example, byte for byte.
    const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AS_PUBLIC: &str = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    #[test]
    fn the_rfc_8291_example_is_reproduced_byte_for_byte() {
        let keys = SubscriptionKeys::from_text(UA_PUBLIC, AUTH).unwrap();
        // ring keeps no static ECDH key, so the shared secret of the example comes from p256.
        let secret = p256::SecretKey::from_slice(&decode(AS_PRIVATE).unwrap()).unwrap();
        let peer = p256::PublicKey::from_sec1_bytes(&keys.p256dh).unwrap();
        let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
        let salt: [u8; 16] = decode(SALT).unwrap().try_into().unwrap();
        let body = seal(
            shared.raw_secret_bytes(),
            &keys,
            &decode(AS_PUBLIC).unwrap(),
            &salt,
            b"When I grow up, I want to be a watermelon",
        )
        .unwrap();
        assert_eq!(encode(&body), BODY);
    }

    #[test]
    fn bad_subscription_keys_are_refused() {
        assert!(SubscriptionKeys::from_text(UA_PUBLIC, AUTH).is_ok());
        assert!(SubscriptionKeys::from_text("not base64!", AUTH).is_err());
        assert!(SubscriptionKeys::from_text(&UA_PUBLIC[..40], AUTH).is_err(), "too short");
        assert!(SubscriptionKeys::from_text(UA_PUBLIC, "AAAA").is_err(), "auth not 16 bytes");
        // 65 bytes of the right form, but not a point on the curve.
        let mut off = decode(UA_PUBLIC).unwrap();
        off[64] ^= 1;
        assert!(SubscriptionKeys::from_text(&encode(&off), AUTH).is_err());
    }

    #[test]
    fn a_message_decrypts_with_the_subscriptions_private_key() {
        let mut d = [0u8; 32];
        ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut d).unwrap();
        let ua = p256::SecretKey::from_slice(&d).unwrap();
        let public = ua.public_key().to_encoded_point(false);
        let keys = SubscriptionKeys { p256dh: public.as_bytes().to_vec(), auth: vec![7; 16] };
        let body = encrypt(&keys, b"<x/>").unwrap();
        assert_eq!(&body[16..20], &4096u32.to_be_bytes());
        assert_eq!(body[20], 65);
        let as_public = p256::PublicKey::from_sec1_bytes(&body[21..86]).unwrap();
        let shared = p256::ecdh::diffie_hellman(ua.to_nonzero_scalar(), as_public.as_affine());
        let salt: [u8; 16] = body[..16].try_into().unwrap();
        // Sealing again with the same secret, key and salt gives the same bytes: the same derivation decrypts.
        let again = seal(shared.raw_secret_bytes(), &keys, &body[21..86], &salt, b"<x/>").unwrap();
        assert_eq!(again, body);
        assert!(encrypt(&keys, &vec![b'a'; MAX_PLAINTEXT + 1]).is_err());
    }

    #[test]
    fn the_vapid_token_verifies_with_the_published_key() {
        let vapid = Vapid::from_pkcs8(&Vapid::generate().unwrap()).unwrap();
        let header = vapid.authorization("https://push.example", 1_900_000_000, "mailto:a@example.org").unwrap();
        let rest = header.strip_prefix("vapid t=").unwrap();
        let (token, k) = rest.split_once(", k=").unwrap();
        assert_eq!(k, vapid.public_key());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let key = signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, decode(k).unwrap());
        key.verify(input.as_bytes(), &decode(sig).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example");
        assert_eq!(claims["exp"], 1_900_000_000);
    }
}
