//! The Halibut identity exchange with this Tentacle's certificate: `MX-CLIENT` answered by `MX-SERVER`, or what came instead (an HTTP page: "unknown identity 'HTTP/1.0'").

use super::Outcome;
use super::plan::{CheckPlan, PollTarget};
use super::probe::{http_first_line, printable_start};
use crate::halibut::HalibutError;
use crate::halibut::connection::{Connection, Limits};
use crate::halibut::dial::{self, Address};
use crate::halibut::frame::Identity;
use crate::halibut::tls;
use crate::halibut::transport::TransportError;

pub(crate) async fn identity_check(
    plan: &CheckPlan,
    t: &PollTarget,
    address: &Address,
    own: &crate::certificate::TentacleCertificate,
) -> Outcome {
    let opts = &plan.options;
    let config = match tls::client_config(own, &t.thumbprint) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::fail(
                e.to_string(),
                "This Tentacle's certificate cannot be used for TLS",
                "Create a new one: tentacle new-certificate, then give Octopus its thumbprint",
            );
        }
    };
    let dialled = tokio::time::timeout(
        opts.connect_timeout + opts.io_timeout * 2,
        dial::dial(
            address,
            config,
            t.proxy.as_ref(),
            opts.connect_timeout,
            opts.io_timeout,
        ),
    )
    .await;
    let (stream, preamble) = match dialled {
        Err(_) => {
            return Outcome::fail(
                "Connecting with this Tentacle's certificate took too long",
                "The server or the path stalls",
                "Run tentacle check again",
            );
        }
        Ok(Err(e)) => {
            let (cause, fix) = dial_failure(&e, own);
            return Outcome::fail(
                format!("Connecting with this Tentacle's certificate failed: {e}"),
                cause,
                fix,
            );
        }
        Ok(Ok(pair)) => pair,
    };
    let mut conn = Connection::new(stream, Limits::default());
    let exchange = async {
        if preamble {
            conn.send_preamble().await?;
        }
        conn.send_identity(&Identity::Client).await?;
        conn.read_identity(opts.io_timeout).await
    };
    let result = exchange.await;
    let (_, pending) = conn.into_parts();
    let not_trusted = |seen: String| {
        Outcome::fail(
            seen,
            format!(
                "The server does not trust this Tentacle's certificate (thumbprint {}): it was never registered there, or registered with another certificate",
                own.thumbprint()
            ),
            format!(
                "Check in the Octopus Web Portal that a deployment target or worker has thumbprint {}; if not, register again: tentacle register-with --instance \"{}\" --server URL --comms-style TentacleActive ...",
                own.thumbprint(),
                plan.instance
            ),
        )
    };
    match result {
        Ok(Identity::Server) => Outcome::pass(format!(
            "The server answered MX-SERVER to MX-CLIENT, so it accepts this Tentacle's certificate {} (a check connection: no work is collected)",
            own.thumbprint()
        )),
        Ok(other) => Outcome::fail(
            format!("The peer identified as {other:?} instead of MX-SERVER"),
            "The address is not an Octopus Server polling port",
            "Check the polling address",
        ),
        Err(HalibutError::Closed(_)) if pending.is_empty() => not_trusted(
            "The server closed the connection after the TLS handshake without identifying itself"
                .to_owned(),
        ),
        Err(HalibutError::Io { source, .. })
            if pending.is_empty()
                && matches!(
                    source.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::BrokenPipe
                ) =>
        {
            not_trusted(format!(
                "The server reset the connection after the TLS handshake without identifying itself ({source})"
            ))
        }
        Err(e) => match http_first_line(&pending) {
            Some(line) => Outcome::fail(
                format!(
                    "Unable to process remote identity; unknown identity '{}': the server side answered {line:?}",
                    line.split(' ').next().unwrap_or_default()
                ),
                "Something on the path terminates the connection and answers with a web page instead of the Octopus Server speaking Halibut (a load balancer or SSL offloading device; SSL offloading is not supported)",
                "Route this port straight to the Octopus Server (TCP pass-through; on a shared port, route by SNI), without HTTP handling in between",
            ),
            None if !pending.is_empty() => Outcome::fail(
                format!(
                    "The server answered {:?} instead of an identity line ({e})",
                    printable_start(&pending)
                ),
                "The peer does not speak Halibut",
                "Check the polling address",
            ),
            None => Outcome::fail(
                format!("No identity from the server: {e}"),
                "The server accepted TLS but did not answer the Halibut identity exchange",
                "Check the Octopus Server log for this connection",
            ),
        },
    }
}

/// Cause and fix for a connection that worked without our certificate and failed with it.
fn dial_failure(
    e: &HalibutError,
    own: &crate::certificate::TentacleCertificate,
) -> (String, String) {
    match e {
        HalibutError::Transport(
            TransportError::WebSocketRejected { .. }
            | TransportError::WebSocketNoOctopusProtocol { .. }
            | TransportError::WebSocketHandshake { .. },
        ) => (
            "The endpoint answers HTTPS but does not accept an Octopus WebSocket: it is not the Octopus Server's WebSocket listen prefix, or a proxy in front of it drops the upgrade".to_owned(),
            "Use the exact prefix the Octopus Server listens on, e.g. wss://HOST:443/OctopusComms: tentacle server-comms --web-socket URL".to_owned(),
        ),
        HalibutError::Tls(_) => (
            format!(
                "The server refused this Tentacle's certificate ({}) during the TLS handshake",
                own.thumbprint()
            ),
            "Make sure the server trusts this Tentacle's thumbprint (register again if it was never registered)".to_owned(),
        ),
        _ => (
            "The connection worked without a client certificate a moment ago; the server or the path is unstable".to_owned(),
            "Run tentacle check again; if it comes and goes, run tentacle ping for a while to see how often".to_owned(),
        ),
    }
}
