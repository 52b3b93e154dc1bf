//! Whether the firewall on this machine lets Octopus Server reach the listening port (ufw, firewalld, Windows Firewall), with the rule as a repair.

use super::Outcome;
use super::plan::CheckPlan;
use crate::firewall::{self, Detected, Firewall};
use crate::fix::FixAction;

pub(crate) async fn check(plan: &CheckPlan) -> Outcome {
    let port = plan.config.communication.port;
    let add = format!(
        "tentacle firewall {} --add",
        firewall::command_line(&crate::fix::offer::selector(plan).args())
    );
    // The firewall tools are programs that can take a moment: keep them off the runtime's threads.
    let found = tokio::task::spawn_blocking(move || {
        firewall::detect().map(|d| match d {
            Detected::Active(fw) => Found::Active(fw, firewall::is_allowed(fw, port)),
            Detected::NoneActive(looked) => Found::None(looked),
        })
    })
    .await;
    match found {
        Err(e) => Outcome::skipped(format!("The firewall could not be examined: {e}")),
        Ok(Err(e)) => Outcome::skipped(format!("The firewall's state could not be read: {e}")),
        Ok(Ok(Found::None(looked))) => Outcome::pass(format!(
            "No active firewall on this machine ({looked}); firewalls on the network between Octopus Server and this machine must still allow TCP port {port}"
        )),
        Ok(Ok(Found::Active(fw, Ok(true)))) => Outcome::pass(format!(
            "{} is active and allows TCP port {port}",
            fw.name()
        )),
        Ok(Ok(Found::Active(fw, Ok(false)))) => {
            let seen = format!("{} is active and does not allow TCP port {port}", fw.name());
            let cause = "The firewall on this machine drops Octopus Server's connections to this listening Tentacle (Octopus reports a timeout or \"No connection could be made\")";
            let fix = format!("Allow the port: {add}");
            let action = FixAction::AllowPort { firewall: fw, port };
            // Windows may let the port in through another rule or with the firewall off: only a warning.
            let outcome = if fw == Firewall::WindowsFirewall {
                Outcome::warn(
                    format!(
                        "Windows Firewall has no \"{}\" rule for TCP port {port}",
                        firewall::RULE_NAME
                    ),
                    "Unless another rule allows it (or the firewall is off), Octopus Server's connections to this listening Tentacle are dropped",
                    fix,
                )
            } else {
                Outcome::fail(seen, cause, fix)
            };
            outcome.offering(vec![action])
        }
        Ok(Ok(Found::Active(_, Err(e)))) => Outcome::skipped(format!(
            "Whether the firewall allows TCP port {port} could not be read: {e}"
        )),
    }
}

/// What the blocking look found.
enum Found {
    Active(Firewall, Result<bool, firewall::FirewallError>),
    None(String),
}
