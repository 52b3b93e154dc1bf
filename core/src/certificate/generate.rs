//! A new self-signed Tentacle certificate: RSA-2048, SHA-256, `CN=Octopus Tentacle`, valid 100 years.

use rsa::pkcs8::EncodePrivateKey;
use time::{Date, Duration, OffsetDateTime};

use super::{CertificateError, TentacleCertificate};

/// The subject common name Tentacle has always used.
pub const CERTIFICATE_SUBJECT: &str = "Octopus Tentacle";

const KEY_BITS: usize = 2048;

/// Generates a certificate as Tentacle does on .NET 8: NotBefore is yesterday (UTC date),
/// NotAfter 100 years from today, a random serial in 1..2^63-1, no extensions to speak of.
pub fn generate() -> Result<TentacleCertificate, CertificateError> {
    // ring cannot generate RSA keys, so RustCrypto generates and ring signs.
    let mut rng = crypto_common::getrandom::SysRng;
    let key = rsa::PrivateKey::new(&mut rng, KEY_BITS)
        .map_err(|e| CertificateError::Generate(e.to_string()))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| CertificateError::Generate(e.to_string()))?;
    let key_der = pkcs8.as_bytes().to_vec();
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(key_der.as_slice()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| CertificateError::Generate(e.to_string()))?;

    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, CERTIFICATE_SUBJECT);
    params.distinguished_name = dn;
    let today = OffsetDateTime::now_utc().date();
    params.not_before = midnight(today - Duration::days(1));
    params.not_after = midnight(add_years(today, 100));
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()));
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| CertificateError::Generate(e.to_string()))?;
    TentacleCertificate::from_parts(cert.der().to_vec(), key_der)
}

fn midnight(date: Date) -> OffsetDateTime {
    date.midnight().assume_utc()
}

fn add_years(date: Date, years: i32) -> Date {
    let year = date.year() + years;
    // 29 February has no twin in most years; fall back to the 28th.
    date.replace_year(year)
        .or_else(|_| date.replace_day(28).and_then(|d| d.replace_year(year)))
        .unwrap_or(date)
}

fn random_serial() -> [u8; 8] {
    // DER integers are signed: clearing the top bit keeps the serial positive (< 2^63),
    // and a zero serial is bumped to 1.
    let mut bytes: [u8; 8] = rand::random();
    bytes[0] &= 0x7f;
    if bytes == [0; 8] {
        bytes[7] = 1;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_what_tentacle_generates() {
        let cert = generate().unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.cert_der()).unwrap();
        assert_eq!(parsed.subject().to_string(), "CN=Octopus Tentacle");
        assert_eq!(parsed.issuer().to_string(), "CN=Octopus Tentacle");
        assert_eq!(
            parsed.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.113549.1.1.11",
            "sha256WithRSAEncryption"
        );
        let bits = match parsed.public_key().parsed().unwrap() {
            x509_parser::public_key::PublicKey::RSA(r) => r.key_size(),
            other => panic!("not RSA: {other:?}"),
        };
        assert_eq!(bits, 2048);
        let years = parsed.validity().not_after.to_datetime().year()
            - parsed.validity().not_before.to_datetime().year();
        assert!((99..=101).contains(&years), "{years}");
        assert_eq!(cert.thumbprint().as_str().len(), 40);
    }

    #[test]
    fn leap_day_plus_a_century() {
        let d = Date::from_calendar_date(2024, time::Month::February, 29).unwrap();
        assert_eq!(add_years(d, 100).day(), 29, "2124 is a leap year");
        assert_eq!(add_years(d, 101).day(), 28);
    }
}
