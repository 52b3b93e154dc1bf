//! Certificates against OpenSSL: thumbprints match its SHA-1 fingerprint; PFX (3DES, AES, no password) and PEM import; PFX export.

use std::path::Path;
use std::process::Command;

use tentacle_tests::{Sandbox, have};

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `SHA1 Fingerprint=AB:CD:…` → `ABCD…`.
fn openssl_thumbprint(cert_pem: &Path) -> String {
    let line = openssl(&[
        "x509",
        "-in",
        cert_pem.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha1",
    ]);
    line.trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_uppercase()
}

fn require_openssl() -> bool {
    assert!(
        have("openssl"),
        "openssl is needed (cargo xtask test installs it)"
    );
    true
}

#[test]
fn thumbprint_equals_openssl_fingerprint_and_subject_is_octopus_tentacle() {
    require_openssl();
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.sh("new-certificate").ok();
    let pem = s.root().join("exported.pem");
    s.run(["export-certificate", "--export-pem", pem.to_str().unwrap()])
        .ok();
    let ours = s.sh("show-thumbprint").ok().stdout;
    assert_eq!(openssl_thumbprint(&pem), ours);
    let text = openssl(&["x509", "-in", pem.to_str().unwrap(), "-noout", "-text"]);
    assert!(text.contains("Subject: CN = Octopus Tentacle"), "{text}");
    assert!(
        text.contains("Signature Algorithm: sha256WithRSAEncryption"),
        "{text}"
    );
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(!text.contains("PRIVATE"), "the PEM export holds no key");
    let json: serde_json::Value =
        serde_json::from_str(&s.sh("show-thumbprint --format json").ok().stdout).unwrap();
    assert_eq!(json["Thumbprint"], ours.as_str());
    let exported = s.root().join("thumb.txt");
    s.run([
        "show-thumbprint",
        "--export-file",
        exported.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(std::fs::read_to_string(exported).unwrap(), ours);
}

#[cfg(unix)]
#[test]
fn private_key_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.sh("new-certificate").ok();
    let t = s.config_toml(&s.default_config());
    let key = t["certificate"]["file"].as_str().unwrap();
    let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{key}");
    assert!(
        std::fs::read_to_string(key)
            .unwrap()
            .contains("BEGIN PRIVATE KEY")
    );
}

/// A key and self-signed certificate made by OpenSSL, in `dir`.
fn openssl_identity(dir: &Path) -> (String, String, String) {
    let key = dir.join("k.pem").to_str().unwrap().to_owned();
    let cert = dir.join("c.pem").to_str().unwrap().to_owned();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &cert,
        "-subj",
        "/CN=Imported Tentacle",
        "-days",
        "30",
    ]);
    let thumb = openssl_thumbprint(Path::new(&cert));
    (key, cert, thumb)
}

#[test]
fn imports_modern_legacy_and_passwordless_pfx_and_pem() {
    require_openssl();
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let (key, cert, thumb) = openssl_identity(s.root());
    let modern = s.root().join("modern.pfx");
    let legacy = s.root().join("legacy.pfx");
    let nopass = s.root().join("nopass.pfx");
    openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        &key,
        "-in",
        &cert,
        "-out",
        modern.to_str().unwrap(),
        "-passout",
        "pass:Secr3t!",
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        &key,
        "-in",
        &cert,
        "-out",
        legacy.to_str().unwrap(),
        "-passout",
        "pass:Secr3t!",
        "-keypbe",
        "PBE-SHA1-3DES",
        "-certpbe",
        "PBE-SHA1-3DES",
        "-macalg",
        "sha1",
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        &key,
        "-in",
        &cert,
        "-out",
        nopass.to_str().unwrap(),
        "-passout",
        "pass:",
    ]);

    for (file, password) in [
        (&modern, Some("Secr3t!")),
        (&legacy, Some("Secr3t!")),
        (&nopass, None),
    ] {
        s.sh("new-certificate").ok();
        assert_ne!(s.sh("show-thumbprint").ok().stdout, thumb);
        let mut args = vec!["import-certificate", "--from-file", file.to_str().unwrap()];
        if let Some(p) = password {
            args.extend(["--pfx-password", p]);
        }
        s.run(&args).ok();
        assert_eq!(
            s.sh("show-thumbprint").ok().stdout,
            thumb,
            "{}",
            file.display()
        );
    }

    // Wrong password: clear error, certificate unchanged.
    s.sh("new-certificate").ok();
    let before = s.sh("show-thumbprint").ok().stdout;
    s.run([
        "import-certificate",
        "--from-file",
        modern.to_str().unwrap(),
        "--pfx-password",
        "wrong",
    ])
    .fails(1, "--pfx-password");
    assert_eq!(s.sh("show-thumbprint").ok().stdout, before);

    // PEM with a PKCS#1 ("RSA PRIVATE KEY") key, and base64 of a PFX.
    let pkcs1 = s.root().join("k1.pem");
    openssl(&[
        "rsa",
        "-in",
        &key,
        "-traditional",
        "-out",
        pkcs1.to_str().unwrap(),
    ]);
    let combined = s.root().join("combined.pem");
    let text = std::fs::read_to_string(&cert).unwrap() + &std::fs::read_to_string(&pkcs1).unwrap();
    assert!(text.contains("BEGIN RSA PRIVATE KEY"));
    std::fs::write(&combined, text).unwrap();
    s.sh("new-certificate").ok();
    s.run([
        "import-certificate",
        "--from-file",
        combined.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(s.sh("show-thumbprint").ok().stdout, thumb);
    use std::io::Write;
    let b64 = openssl(&["base64", "-A", "-in", modern.to_str().unwrap()]);
    s.sh("new-certificate").ok();
    s.run([
        "import-certificate",
        "--from-base64",
        b64.trim(),
        "--pw",
        "Secr3t!",
    ])
    .ok();
    assert_eq!(s.sh("show-thumbprint").ok().stdout, thumb);
    let _ = std::io::stdout().flush();
}

#[test]
fn bad_certificate_files_are_refused_with_reasons() {
    require_openssl();
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.sh("new-certificate").ok();
    let before = std::fs::read(s.default_config()).unwrap();
    let (key, cert, _) = openssl_identity(s.root());
    let cert_only = s.root().join("cert-only.pem");
    std::fs::copy(&cert, &cert_only).unwrap();
    s.run([
        "import-certificate",
        "--from-file",
        cert_only.to_str().unwrap(),
    ])
    .fails(1, "no private key");
    let junk = s.root().join("junk.bin");
    std::fs::write(&junk, b"definitely not a certificate").unwrap();
    s.run(["import-certificate", "--from-file", junk.to_str().unwrap()])
        .fails(1, "neither a PFX");
    let small_key = s.root().join("small.pem");
    let small_cert = s.root().join("small-cert.pem");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-keyout",
        small_key.to_str().unwrap(),
        "-out",
        small_cert.to_str().unwrap(),
        "-subj",
        "/CN=small",
        "-days",
        "1",
    ]);
    let small = s.root().join("small-both.pem");
    std::fs::write(
        &small,
        std::fs::read_to_string(&small_cert).unwrap()
            + &std::fs::read_to_string(&small_key).unwrap(),
    )
    .unwrap();
    s.run(["import-certificate", "--from-file", small.to_str().unwrap()])
        .fails(1, "1024 bits");
    // A key from another certificate.
    let other = s.root().join("other");
    std::fs::create_dir(&other).unwrap();
    let (other_key, _, _) = openssl_identity(&other);
    let mismatched = s.root().join("mismatch.pem");
    std::fs::write(
        &mismatched,
        std::fs::read_to_string(&cert).unwrap() + &std::fs::read_to_string(&other_key).unwrap(),
    )
    .unwrap();
    s.run([
        "import-certificate",
        "--from-file",
        mismatched.to_str().unwrap(),
    ])
    .fails(1, "does not belong");
    s.run([
        "import-certificate",
        "--from-file",
        s.root().join("missing.pfx").to_str().unwrap(),
    ])
    .fails(1, "Could not read");
    s.sh("import-certificate")
        .fails(2, "exactly one certificate source");
    // A PEM key alone, with no certificate.
    s.run(["import-certificate", "--from-file", &key])
        .fails(1, "no certificate");
    assert_eq!(
        std::fs::read(s.default_config()).unwrap(),
        before,
        "config unchanged"
    );
}

#[test]
fn exported_pfx_opens_in_openssl_with_the_same_thumbprint() {
    require_openssl();
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.sh("new-certificate").ok();
    let pfx = s.root().join("out.pfx");
    s.run(["export-certificate", "--export-pfx", pfx.to_str().unwrap()])
        .fails(1, "password is required");
    s.run([
        "export-certificate",
        "--export-pfx",
        pfx.to_str().unwrap(),
        "--pfx-password",
        "pw",
    ])
    .ok();
    let pem = s.root().join("from-pfx.pem");
    openssl(&[
        "pkcs12",
        "-in",
        pfx.to_str().unwrap(),
        "-passin",
        "pass:pw",
        "-nokeys",
        "-out",
        pem.to_str().unwrap(),
    ]);
    assert_eq!(
        openssl_thumbprint(&pem),
        s.sh("show-thumbprint").ok().stdout
    );
    let keys = openssl(&[
        "pkcs12",
        "-in",
        pfx.to_str().unwrap(),
        "-passin",
        "pass:pw",
        "-nocerts",
        "-nodes",
    ]);
    assert!(
        keys.contains("BEGIN PRIVATE KEY"),
        "the PFX carries the key"
    );
    // new-certificate --export-pfx writes a PFX and leaves the installed certificate alone.
    let installed = s.sh("show-thumbprint").ok().stdout;
    let fresh = s.root().join("fresh.pfx");
    let r = s
        .run([
            "new-certificate",
            "--export-pfx",
            fresh.to_str().unwrap(),
            "--pfx-password",
            "pw",
        ])
        .ok();
    assert!(fresh.is_file(), "{r:#?}");
    assert_eq!(s.sh("show-thumbprint").ok().stdout, installed);
}
