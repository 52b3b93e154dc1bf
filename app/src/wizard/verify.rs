//! The wizard's "verify the connection" step: signs in to the Octopus Server's REST API, reads its thumbprint and knocks on its polling endpoint, logging each step as the original does.

use std::time::Duration;

use tentacle_core::register::{
    self, Auth, CommsCheckOptions, OctopusClient, Secret, ServerOptions,
};

use super::Verified;
use super::answers::{self, Answers, AuthMode, Comms, ProxyChoice};
use crate::worker::{Job, Sink};

/// Runs the checks for `a`, logging to the Verify job. Blocking: call it on a worker thread.
pub fn verify(a: &Answers, sink: &Sink) -> Result<Verified, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            format!("Could not start the connection check ({e}); close some programs and try again")
        })?;
    runtime.block_on(verify_async(a, sink))
}

async fn verify_async(a: &Answers, sink: &Sink) -> Result<Verified, String> {
    let server =
        register::ServerOptions::parse_server_url(&a.server_url).map_err(|e| e.to_string())?;
    let auth = match a.auth {
        AuthMode::ApiKey => Auth::ApiKey(Secret::new(a.api_key.trim())),
        AuthMode::UsernamePassword => Auth::UsernamePassword {
            username: a.username.trim().to_owned(),
            password: Secret::new(a.password.clone()),
        },
    };
    let mut options = ServerOptions::new(server.clone(), auth);
    if !a.space.trim().is_empty() {
        options.space = Some(a.space.trim().to_owned());
    }
    let log = |line: String| sink.line(Job::Verify, line);
    log(format!("Connecting to server: {server}"));
    if let AuthMode::UsernamePassword = a.auth {
        log(format!("Authenticating as {}...", a.username.trim()));
    }
    let client = OctopusClient::connect(&options)
        .await
        .map_err(|e| e.to_string())?;
    log(format!(
        "Connected successfully, Octopus Server version: {}",
        client.server_version()
    ));
    log("Authenticated successfully".to_owned());
    let space = client.space_name();
    log(format!("Space: {space}"));
    let thumbprint = client
        .server_thumbprint()
        .await
        .map_err(|e| e.to_string())?;
    log(format!("Octopus Server thumbprint: {thumbprint}"));

    let address = match a.comms {
        Comms::Port => {
            let port = a.comms_port.trim().parse::<u16>().ok();
            register::comms_check::polling_address(&server, None, port)
                .map_err(|e| e.to_string())?
        }
        Comms::Address443 => {
            let address = answers::comms_address(&a.comms_address)?;
            register::comms_check::polling_address(&server, Some(&address), None)
                .map_err(|e| e.to_string())?
        }
        Comms::WebSocket => a.web_socket.trim().to_owned(),
    };
    if a.proxy == ProxyChoice::NoProxy {
        log(format!("Checking the polling endpoint: {address}"));
        let check = CommsCheckOptions {
            attempts: 2,
            timeout: Duration::from_secs(5),
            ..CommsCheckOptions::default()
        };
        let answer = register::check_comms_address_with(&address, &check)
            .await
            .map_err(|e| e.to_string())?;
        log(format!(
            "The polling endpoint answered (HTTP {}): {}",
            answer.status, answer.address
        ));
    } else {
        log(format!(
            "Not checking the polling endpoint directly: the Tentacle reaches it through a proxy ({address})"
        ));
    }
    log("Credentials verified".to_owned());
    Ok(Verified {
        version: client.server_version().to_owned(),
        thumbprint: thumbprint.to_string(),
        space,
    })
}
