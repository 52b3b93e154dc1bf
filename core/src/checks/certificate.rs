//! The server certificate itself: its signature algorithm (SHA-1 and MD5 are flagged), key size and validity.

use super::Outcome;

pub(crate) fn subject(der: &[u8]) -> String {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c.subject().to_string())
        .unwrap_or_else(|_| "unreadable subject".to_owned())
}

/// `(not_before, not_after)` in Unix seconds.
pub(crate) fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let v = cert.validity();
    Some((v.not_before.timestamp(), v.not_after.timestamp()))
}

/// Signature algorithm OIDs that modern TLS stacks refuse in certificates.
const WEAK_SIGNATURES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.3.14.3.2.29", "sha1WithRSAEncryption (OIW)"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10040.4.3", "dsa-with-sha1"),
];

/// Names for the usual good ones.
const SIGNATURE_NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
    ("1.2.840.113549.1.1.10", "RSASSA-PSS"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.3.101.112", "Ed25519"),
];

pub(crate) fn certificate_check(der: &[u8]) -> Outcome {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Outcome::warn(
            "The server's certificate could not be parsed",
            "An unusual certificate encoding; this Tentacle only checks its thumbprint, but other tools may refuse it",
            "Regenerate the Octopus Server certificate",
        );
    };
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    let key = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => Some(("RSA", rsa.key_size())),
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => Some(("EC", ec.key_size())),
        _ => None,
    };
    let key_text = key
        .map(|(k, bits)| format!("{k} {bits} bits"))
        .unwrap_or_else(|| "key of another type".to_owned());
    let v = cert.validity();
    let dates = format!(
        "valid {} to {}",
        super::host::utc(v.not_before.timestamp()),
        super::host::utc(v.not_after.timestamp())
    );
    if let Some((_, name)) = WEAK_SIGNATURES.iter().find(|(o, _)| *o == oid) {
        return Outcome::warn(
            format!("Signed with {name} ({oid}), {key_text}, {dates}"),
            "SHA-1 (and MD5) signed certificates are rejected by the default security policy of modern Linux distributions: Tentacles there fail with \"Attempted to read past the end of the stream\". This Tentacle accepts it because it trusts the thumbprint alone",
            "Regenerate the Octopus Server certificate with SHA-256 (Octopus documentation: How to regenerate certificates with Octopus Server and Tentacle), then trust the new thumbprint on every Tentacle",
        );
    }
    if let Some(("RSA", bits)) = key
        && bits < 2048
    {
        return Outcome::fail(
            format!("{key_text}, {dates}"),
            "RSA keys under 2048 bits are refused by TLS libraries (this Tentacle's included)",
            "Regenerate the Octopus Server certificate with a 2048-bit (or larger) RSA key, then trust the new thumbprint",
        );
    }
    let name = SIGNATURE_NAMES
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, n)| (*n).to_owned())
        .unwrap_or(oid);
    Outcome::pass(format!("Signed with {name}, {key_text}, {dates}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_certificates_are_sha256_and_pass() {
        let cert = crate::certificate::generate().unwrap();
        let o = certificate_check(cert.cert_der());
        assert_eq!(o.verdict, super::super::Verdict::Pass, "{o:?}");
        assert!(o.seen.contains("sha256WithRSAEncryption"), "{o:?}");
        assert!(o.seen.contains("RSA 2048 bits"), "{o:?}");
    }
}
