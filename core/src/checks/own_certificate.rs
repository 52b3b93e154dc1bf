//! This Tentacle's own certificate: a SHA-1 (or MD5) signature or a short RSA key is flagged, with a new certificate as the repair.

use super::Outcome;
use super::plan::CheckPlan;
use crate::fix::FixAction;

pub(crate) fn check(plan: &CheckPlan) -> Outcome {
    let cert = match &plan.own {
        Ok(c) => c,
        Err(why) => {
            return Outcome::skipped(format!("{why} (see the trusted servers check)"));
        }
    };
    let thumbprint = cert.thumbprint().to_string();
    let found = super::certificate::certificate_check(cert.cert_der());
    if found.is_pass() {
        return Outcome::pass(format!("{}; thumbprint {thumbprint}", found.seen));
    }
    let selector = crate::fix::offer::selector(plan);
    let fix = format!(
        "Regenerate it: tentacle new-certificate {}, then trust the new thumbprint in Octopus (the Octopus Server must trust it before it talks to this Tentacle again)",
        crate::firewall::command_line(&selector.args())
    );
    let regenerate = FixAction::RegenerateCertificate {
        backup: crate::fix::offer::certificate_file(plan, &thumbprint),
        thumbprint: thumbprint.clone(),
    };
    let seen = format!("{}; thumbprint {thumbprint}", found.seen);
    let outcome = if found.verdict == super::Verdict::Fail {
        Outcome::fail(
            seen,
            "This Tentacle's RSA key is shorter than 2048 bits: TLS libraries (Octopus Server's included) refuse it",
            fix,
        )
    } else {
        Outcome::warn(
            seen,
            "This Tentacle's certificate is signed with a weak algorithm (SHA-1 or MD5): TLS stacks with a modern default policy (OpenSSL security level 2, .NET on current Linux) refuse such certificates, so an Octopus Server there may fail to connect",
            fix,
        )
    };
    outcome.offering(vec![regenerate])
}
