//! The `tentacle` verbs and their options, named as Tentacle names them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "tentacle",
    about = "Tentacle: the Octopus Deploy agent and its configuration tool",
    disable_help_subcommand = true,
    disable_version_flag = true,
    subcommand_required = false,
    arg_required_else_help = false
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Accepted for compatibility with Tentacle scripts; has no effect.
    #[arg(long, global = true, hide = true)]
    pub console: bool,
    /// Accepted for compatibility with Tentacle scripts; has no effect.
    #[arg(long, global = true, hide = true)]
    pub nologo: bool,
    /// Accepted for compatibility with Tentacle scripts; has no effect.
    #[arg(long, global = true, hide = true)]
    pub noconsolelogging: bool,
    /// Accepted for compatibility with Tentacle scripts; this CLI never prompts.
    #[arg(long, global = true, hide = true)]
    pub noninteractive: bool,
}

/// Which instance a command works on.
#[derive(Debug, Clone, Default, Args)]
pub struct InstanceArgs {
    /// Name of the instance to use (default: Tentacle, or the only instance)
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Use this configuration file directly instead of an instance name
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Text for people, JSON for scripts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Plain text.
    #[default]
    Text,
    /// JSON.
    Json,
}

/// Proxy options shared by `proxy` and `polling-proxy`.
#[derive(Debug, Clone, Default, Args)]
pub struct ProxyArgs {
    /// Whether to use a proxy: true or false
    #[arg(long = "proxyEnable", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub enable: Option<String>,
    /// Proxy user name
    #[arg(long = "proxyUsername", value_name = "USER")]
    pub username: Option<String>,
    /// Proxy password (stored owner-only, never shown)
    #[arg(long = "proxyPassword", value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Proxy host name; empty means the system's default proxy
    #[arg(long = "proxyHost", value_name = "HOST")]
    pub host: Option<String>,
    /// Proxy port (default 80)
    #[arg(long = "proxyPort", value_name = "PORT")]
    pub port: Option<String>,
}

/// How to reach and sign in to Octopus Server, shared by the registration verbs.
#[derive(Debug, Clone, Default, Args)]
pub struct ApiArgs {
    /// The Octopus Server URL, e.g. https://octopus.example.com
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// An Octopus API key (API-...); never stored or shown
    #[arg(long = "apiKey", value_name = "KEY")]
    pub api_key: Option<String>,
    /// A bearer token (instead of --apiKey); never stored or shown
    #[arg(long = "bearerToken", value_name = "TOKEN")]
    pub bearer_token: Option<String>,
    /// An Octopus user name (instead of --apiKey)
    #[arg(short = 'u', long, visible_alias = "user", value_name = "USER")]
    pub username: Option<String>,
    /// That user's password; never stored or shown
    #[arg(short = 'p', long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// The space to work in (default: the user's default space)
    #[arg(long, value_name = "NAME")]
    pub space: Option<String>,
    /// Do not verify the Octopus Web Portal's HTTPS certificate (self-signed portals)
    #[arg(long = "ignoreSslErrors")]
    pub ignore_ssl_errors: bool,
}

/// Options shared by `register-with` and `register-worker`.
#[derive(Debug, Clone, Default, Args)]
pub struct RegisterArgs {
    /// Name of the machine in Octopus (default: this host's name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Machine policy name or Id (default: the server's default policy)
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,
    /// Listening: the host name Octopus uses to reach this Tentacle (default: this host's name)
    #[arg(long = "publicHostName", value_name = "HOST")]
    pub public_host_name: Option<String>,
    /// Overwrite an existing machine with the same name
    #[arg(short = 'f', long)]
    pub force: bool,
    /// TentaclePassive (listening, default) or TentacleActive (polling)
    #[arg(long = "comms-style", value_name = "STYLE")]
    pub comms_style: Option<String>,
    /// Listening: the name of the proxy in Octopus the server uses to reach this Tentacle
    #[arg(long, value_name = "NAME")]
    pub proxy: Option<String>,
    /// Polling: the server's communications port (default 10943; overrides the address's port)
    #[arg(long = "server-comms-port", value_name = "PORT")]
    pub server_comms_port: Option<String>,
    /// Polling: the server's communications address, e.g. https://polling.example.octopus.app
    #[arg(long = "server-comms-address", value_name = "URL")]
    pub server_comms_address: Option<String>,
    /// Polling over a WebSocket: wss://host:443/OctopusComms
    #[arg(long = "server-web-socket", value_name = "URL")]
    pub server_web_socket: Option<String>,
    /// Polling: the subscription id to use, poll://.../ (default: kept from before, or new)
    #[arg(long = "server-subscription-id", value_name = "URL")]
    pub server_subscription_id: Option<String>,
    /// Listening: the port Octopus should connect to (default: the configured listen port)
    #[arg(long = "tentacle-comms-port", value_name = "PORT")]
    pub tentacle_comms_port: Option<String>,
}

/// Every verb.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Registers a new instance of the Tentacle service
    #[command(name = "create-instance")]
    CreateInstance {
        /// Name of the new instance (default: Tentacle)
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
        /// Configuration file to create; relative paths are taken from --home
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Home folder for logs and work (default: the configuration file's folder)
        #[arg(long, value_name = "DIR")]
        home: Option<PathBuf>,
    },
    /// Deletes an instance of the Tentacle service (its configuration and home folder are kept)
    #[command(name = "delete-instance")]
    DeleteInstance(InstanceArgs),
    /// Lists the instances on this machine
    #[command(name = "list-instances")]
    ListInstances {
        /// text or json
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Creates and installs a new certificate for this Tentacle
    #[command(name = "new-certificate")]
    NewCertificate {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Only create a certificate if there is none yet
        #[arg(short = 'b', long = "if-blank")]
        if_blank: bool,
        /// Write the new certificate to a password-protected PFX instead of installing it
        #[arg(long = "export-pfx", value_name = "PATH", conflicts_with = "if_blank")]
        export_pfx: Option<PathBuf>,
        /// Password for --export-pfx
        #[arg(long = "pfx-password", value_name = "PASSWORD")]
        pfx_password: Option<String>,
    },
    /// Replace the certificate that Tentacle uses to authenticate itself
    #[command(name = "import-certificate")]
    ImportCertificate {
        #[command(flatten)]
        instance: InstanceArgs,
        /// A .pfx/.p12 file, a base64 text file of one, or PEM with certificate and key
        #[arg(short = 'f', long = "from-file", value_name = "PATH")]
        from_file: Option<PathBuf>,
        /// A base64-encoded PFX
        #[arg(short = 'b', long = "from-base64", value_name = "BASE64")]
        from_base64: Option<String>,
        /// Password of the PFX
        #[arg(long = "pfx-password", visible_alias = "pw", value_name = "PASSWORD")]
        pfx_password: Option<String>,
    },
    /// Exports this Tentacle's certificate (PFX with key, or PEM certificate only)
    #[command(name = "export-certificate")]
    ExportCertificate {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Write certificate and private key to a password-protected PFX
        #[arg(long = "export-pfx", value_name = "PATH")]
        export_pfx: Option<PathBuf>,
        /// Password for --export-pfx
        #[arg(long = "pfx-password", value_name = "PASSWORD")]
        pfx_password: Option<String>,
        /// Write the certificate alone (no private key) as PEM
        #[arg(long = "export-pem", value_name = "PATH")]
        export_pem: Option<PathBuf>,
    },
    /// Show the thumbprint of this Tentacle's certificate
    #[command(name = "show-thumbprint")]
    ShowThumbprint {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Also write the thumbprint to this file
        #[arg(short = 'e', long = "export-file", value_name = "PATH")]
        export_file: Option<PathBuf>,
        /// text or json
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Accepted for compatibility; the output is always the thumbprint only
        #[arg(long = "thumbprint-only", hide = true)]
        thumbprint_only: bool,
    },
    /// Sets Tentacle settings such as the port number and thumbprints
    Configure {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Home folder (created if missing)
        #[arg(long, visible_alias = "homedir", value_name = "DIR")]
        home: Option<PathBuf>,
        /// Application folder packages deploy to (created if missing)
        #[arg(long, visible_alias = "appdir", value_name = "DIR")]
        app: Option<PathBuf>,
        /// Port to listen on (1-65535)
        #[arg(long, value_name = "PORT")]
        port: Option<String>,
        /// true for a polling-only Tentacle that opens no port
        #[arg(long = "noListen", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        no_listen: Option<String>,
        /// IP address to listen on, or 'any'
        #[arg(long = "listenIpAddress", value_name = "IP")]
        listen_ip: Option<String>,
        /// Connections kept open to each polling server
        #[arg(long = "pollingConnectionCount", value_name = "N")]
        polling_connection_count: Option<String>,
        /// Trust an Octopus Server certificate thumbprint (repeatable)
        #[arg(long, value_name = "THUMBPRINT")]
        trust: Vec<String>,
        /// Stop trusting a thumbprint (repeatable)
        #[arg(long = "remove-trust", value_name = "THUMBPRINT")]
        remove_trust: Vec<String>,
        /// Remove every trusted server first
        #[arg(long = "reset-trust")]
        reset_trust: bool,
        /// The Tentacle version Octopus Server is shown (TentacleVersion in scripts, the REST
        /// user agent), e.g. your server's bundled Tentacle; 'default' for this build's current
        /// Tentacle release. Octopus flags older Tentacles for upgrade, so ours reports one.
        #[arg(long = "reported-version", value_name = "VERSION")]
        reported_version: Option<String>,
    },
    /// Configure how the Tentacle communicates with an Octopus Server
    #[command(name = "server-comms")]
    ServerComms {
        #[command(flatten)]
        instance: InstanceArgs,
        /// The trusted server to change (may be omitted when only one is trusted)
        #[arg(long, value_name = "THUMBPRINT")]
        thumbprint: Option<String>,
        /// TentacleActive (polling) or TentaclePassive (listening)
        #[arg(long, value_name = "STYLE")]
        style: Option<String>,
        /// Host name of the server to poll
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Port of the server to poll (default 10943)
        #[arg(long, value_name = "PORT")]
        port: Option<String>,
        /// Poll over a WebSocket: wss://host:443/OctopusComms
        #[arg(long = "web-socket", value_name = "URL")]
        web_socket: Option<String>,
    },
    /// Replaces a trusted server thumbprint with a new one
    #[command(name = "update-trust")]
    UpdateTrust {
        #[command(flatten)]
        instance: InstanceArgs,
        /// The thumbprint trusted now
        #[arg(long = "oldThumbprint", value_name = "THUMBPRINT")]
        old_thumbprint: Option<String>,
        /// The thumbprint to trust instead
        #[arg(long = "newThumbprint", value_name = "THUMBPRINT")]
        new_thumbprint: Option<String>,
    },
    /// Removes trusted servers, except those at the addresses given
    #[command(name = "clear-trusted-servers")]
    ClearTrustedServers {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Comma-separated server addresses to keep
        #[arg(long, value_name = "ADDRESSES")]
        keep: Option<String>,
    },
    /// Sets how many connections a polling Tentacle keeps open to each server
    #[command(name = "set-polling-connection-count")]
    SetPollingConnectionCount {
        #[command(flatten)]
        instance: InstanceArgs,
        /// A whole number from 1 to 512
        #[arg(long = "pollingConnectionCount", value_name = "N")]
        polling_connection_count: Option<String>,
    },
    /// Configure the HTTP proxy used by Octopus
    Proxy {
        #[command(flatten)]
        instance: InstanceArgs,
        #[command(flatten)]
        proxy: ProxyArgs,
    },
    /// Configure the HTTP proxy used for polling connections to Octopus Server
    #[command(name = "polling-proxy")]
    PollingProxy {
        #[command(flatten)]
        instance: InstanceArgs,
        #[command(flatten)]
        proxy: ProxyArgs,
    },
    /// Registers this machine as a deployment target with an Octopus Server
    #[command(name = "register-with")]
    RegisterWith {
        #[command(flatten)]
        instance: InstanceArgs,
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        register: RegisterArgs,
        /// Environment name, slug or Id (repeatable)
        #[arg(long, visible_alias = "env", value_name = "NAME")]
        environment: Vec<String>,
        /// Target role (repeatable)
        #[arg(short = 'r', long, value_name = "ROLE")]
        role: Vec<String>,
        /// Tenant name or Id (repeatable)
        #[arg(long, value_name = "NAME")]
        tenant: Vec<String>,
        /// Tenant tag as TagSet/Tag (repeatable)
        #[arg(long, value_name = "SET/TAG")]
        tenanttag: Vec<String>,
        /// Untenanted, TenantedOrUntenanted or Tenanted
        #[arg(long = "tenanted-deployment-participation", value_name = "MODE")]
        tenanted_deployment_participation: Option<String>,
    },
    /// Registers this machine as a worker with an Octopus Server
    #[command(name = "register-worker")]
    RegisterWorker {
        #[command(flatten)]
        instance: InstanceArgs,
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        register: RegisterArgs,
        /// Worker pool name, slug or Id (repeatable)
        #[arg(long, value_name = "NAME")]
        workerpool: Vec<String>,
    },
    /// Deregisters this machine from an Octopus Server (trust is kept)
    #[command(name = "deregister-from")]
    DeregisterFrom {
        #[command(flatten)]
        instance: InstanceArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Delete every machine with this Tentacle's thumbprint
        #[arg(short = 'm', long)]
        multiple: bool,
    },
    /// Deregisters this worker from an Octopus Server (trust is kept)
    #[command(name = "deregister-worker")]
    DeregisterWorker {
        #[command(flatten)]
        instance: InstanceArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Delete every worker with this Tentacle's thumbprint
        #[arg(short = 'm', long)]
        multiple: bool,
    },
    /// Configures an Octopus Server that this Tentacle will poll (e.g. another HA node)
    #[command(name = "poll-server")]
    PollServer {
        #[command(flatten)]
        instance: InstanceArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// The node's communications address, e.g. https://node2.example.com
        #[arg(long = "server-comms-address", value_name = "URL")]
        server_comms_address: Option<String>,
        /// The node's communications port (default 10943)
        #[arg(long = "server-comms-port", value_name = "PORT")]
        server_comms_port: Option<String>,
        /// Poll over a WebSocket: wss://host:443/OctopusComms
        #[arg(long = "server-web-socket", value_name = "URL")]
        server_web_socket: Option<String>,
        /// Copy thumbprint and subscription from the first polled server (no API call)
        #[arg(long = "reuse-server-thumbprint")]
        reuse_server_thumbprint: bool,
    },
    /// Adopts an Octopus Tentacle instance on this machine: same certificate, trusted servers, port and folders
    #[command(name = "import-tentacle")]
    ImportTentacle {
        /// The Octopus Tentacle instance to adopt; this Tentacle's instance gets the same name (default: Tentacle, or the only one)
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
        /// Read this Tentacle.config instead of looking the instance up
        #[arg(long = "from-config", value_name = "PATH")]
        from_config: Option<PathBuf>,
        /// Print what would be imported, secrets masked, and change nothing
        #[arg(long = "dry-run")]
        dry_run: bool,
        /// Also install and start this Tentacle's service
        #[arg(long = "install-service")]
        install_service: bool,
    },
    /// Hands an instance back to Octopus Tentacle: writes its Tentacle.config and instance record
    #[command(name = "export-tentacle")]
    ExportTentacle {
        /// The instance to hand back
        #[arg(long, value_name = "NAME")]
        instance: String,
        /// Write the config here instead of where it came from (then nothing else is changed)
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
    },
    /// Outputs the Tentacle configuration as JSON
    #[command(name = "show-configuration")]
    ShowConfiguration {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Write to this file instead of the console
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
    /// Starts the Tentacle Agent in the foreground (the background service runs this)
    #[command(visible_alias = "run")]
    Agent {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Milliseconds to wait before starting (ignored below 20)
        #[arg(long, value_name = "MS")]
        wait: Option<u64>,
        /// Find --instance in this config root instead of TENTACLE_CONFIG_ROOT or the account's
        /// default (services name it, so another account or a clean environment finds the instance)
        #[arg(long = "config-root", value_name = "DIR")]
        config_root: Option<PathBuf>,
    },
    /// Installs, starts, stops or removes the background service that runs the agent
    Service {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Install the service (an installed service is rewritten)
        #[arg(long)]
        install: bool,
        /// Stop and remove the service
        #[arg(long)]
        uninstall: bool,
        /// Start the service
        #[arg(long)]
        start: bool,
        /// Stop the service
        #[arg(long)]
        stop: bool,
        /// Stop the service if it is running, then start it
        #[arg(long)]
        restart: bool,
        /// Rewrite the installed service's definition and reload it
        #[arg(long)]
        reconfigure: bool,
        /// Print Running, Stopped or Is not installed
        #[arg(long)]
        status: bool,
        /// Run the service as this account
        #[arg(long, value_name = "USER")]
        username: Option<String>,
        /// Password of --username (Windows only)
        #[arg(long, value_name = "PASSWORD")]
        password: Option<String>,
    },
    /// Runs the connectivity checks of the troubleshooting guide and says what to fix
    Check {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Print the results as JSON
        #[arg(long)]
        json: bool,
        /// Seconds each connection, handshake or answer may take (default 5)
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
        /// Offer the repairs the checks found, asking y/N on stdin before each
        #[arg(long)]
        fix: bool,
        /// With --fix: apply every repair without asking
        #[arg(long)]
        yes: bool,
    },
    /// Adds, removes or shows the firewall rule for the listening port (Windows Firewall, ufw or firewalld)
    Firewall {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Allow incoming TCP connections to the listening port
        #[arg(long)]
        add: bool,
        /// Remove the rule --add made
        #[arg(long)]
        remove: bool,
        /// Say which firewall is active and whether it allows the port
        #[arg(long)]
        status: bool,
        /// Use this port instead of the instance's listening port
        #[arg(long, value_name = "PORT")]
        port: Option<u16>,
    },
    /// Opens TLS connections to a Tentacle or Octopus Server port again and again, as TentaclePing does
    Ping {
        /// Host name or IP address to connect to
        host: String,
        /// Port (default 10933)
        port: Option<u16>,
        /// Stop after this many attempts (default: until Ctrl+C)
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Milliseconds between attempts (default 500)
        #[arg(long, value_name = "MS")]
        interval: Option<u64>,
        /// Seconds each connection, handshake or answer may take (default 30)
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
    },
    /// Answers TentaclePing-style connections on a port (TLS 1.2 or newer), as TentaclePong does
    Pong {
        /// Port to listen on
        port: u16,
        /// Stop after this many connections (default: until Ctrl+C)
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Present this instance's certificate instead of a new throwaway one
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
    },
    /// Exits 0 when the agent's liveness heartbeat (<home>/livez.heartbeat, touched every 10 s
    /// by a healthy agent) is fresh, 1 when it is missing or stale; one line either way. For
    /// container health checks and watchdogs
    Livez {
        #[command(flatten)]
        instance: InstanceArgs,
        /// Maximum allowed age of the heartbeat in seconds (default 60)
        #[arg(long = "max-age", value_name = "SECONDS")]
        max_age: Option<String>,
    },
    /// Show this agent's version and the Tentacle version it reports to Octopus Server
    ///
    /// Octopus Server reads a Tentacle's version from health checks and marks older ones for
    /// upgrade, so the agent reports a current Tentacle release (set one per instance with
    /// `configure --reported-version`); its own version is printed beside it.
    Version {
        #[command(flatten)]
        instance: InstanceArgs,
        /// text or json
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Prints this help
    #[command(visible_aliases = ["h", "?"])]
    Help {
        /// The command to describe
        command: Option<String>,
        /// text or json
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}
