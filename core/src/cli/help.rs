//! `tentacle help`: the command list, one command's options, JSON for tools, and clap errors as one line.

use clap::CommandFactory;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use serde_json::json;

use super::commands::{Cli, Format};
use super::{CliError, Out};

fn visible(cmd: &clap::Command) -> Vec<&clap::Command> {
    let mut subs: Vec<_> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    subs.sort_by_key(|s| s.get_name().to_owned());
    subs
}

/// The list of commands.
pub fn overview(format: Format, out: &mut Out<'_>) {
    let cmd = Cli::command();
    let subs = visible(&cmd);
    match format {
        Format::Json => {
            let commands: Vec<_> = subs
                .iter()
                .map(|s| {
                    json!({
                        "Name": s.get_name(),
                        "Description": s.get_about().map(|a| a.to_string()).unwrap_or_default(),
                        "Aliases": s.get_visible_aliases().collect::<Vec<_>>(),
                    })
                })
                .collect();
            out.line(json!({ "Commands": commands }));
        }
        Format::Text => {
            let width = subs
                .iter()
                .map(|s| s.get_name().len())
                .max()
                .unwrap_or(15)
                .max(15);
            out.line("Usage: tentacle <command> [<options>]");
            out.line("");
            out.line("Where <command> is one of:");
            out.line("");
            for s in subs {
                let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
                out.line(format!("  {:<width$}  {about}", s.get_name()));
            }
            out.line("");
            out.line("Or use 'tentacle help <command>' for help on a specific command.");
        }
    }
}

/// `help [command] [--format]`.
pub fn help(command: Option<&str>, format: Format, out: &mut Out<'_>) -> Result<(), CliError> {
    let Some(name) = command else {
        overview(format, out);
        return Ok(());
    };
    let lowered = name.to_ascii_lowercase();
    let mut cmd = Cli::command();
    cmd.build();
    let Some(sub) = cmd
        .get_subcommands()
        .find(|s| s.get_name() == lowered || s.get_all_aliases().any(|a| a == lowered))
    else {
        return Err(unknown_command(name));
    };
    match format {
        Format::Json => {
            let options: Vec<_> = sub
                .get_arguments()
                .filter(|a| !a.is_hide_set() && a.get_long().is_some())
                .map(|a| {
                    json!({
                        "Name": a.get_long().unwrap_or_default(),
                        "Description": a.get_help().map(|h| h.to_string()).unwrap_or_default(),
                    })
                })
                .collect();
            out.line(json!({
                "Name": sub.get_name(),
                "Description": sub.get_about().map(|a| a.to_string()).unwrap_or_default(),
                "Aliases": sub.get_visible_aliases().collect::<Vec<_>>(),
                "Options": options,
            }));
        }
        Format::Text => {
            let mut sub = sub.clone().bin_name(format!("tentacle {}", sub.get_name()));
            out.raw(sub.render_long_help());
        }
    }
    Ok(())
}

fn unknown_command(name: &str) -> CliError {
    CliError::Usage(format!(
        "Unknown command '{name}'. Run 'tentacle help' to list the commands"
    ))
}

/// Turns clap's verdict into our output: help goes to stdout, errors become one line.
pub fn from_clap(e: clap::Error, verb: Option<&str>, out: &mut Out<'_>) -> Result<(), CliError> {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            out.raw(e.render());
            Ok(())
        }
        ErrorKind::InvalidSubcommand => {
            let name = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            Err(unknown_command(&name))
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("the command line was not understood")
                .trim_start_matches("error: ")
                .trim();
            let mut msg = capitalise(first);
            // clap lists the missing arguments on the lines after "…were not provided:".
            if msg.ends_with(':') {
                let missing: Vec<&str> = rendered
                    .lines()
                    .skip(1)
                    .map(str::trim)
                    .take_while(|l| !l.is_empty())
                    .collect();
                msg.push(' ');
                msg.push_str(&missing.join(", "));
            }
            match verb {
                Some(v) => msg.push_str(&format!(". Run 'tentacle help {v}' to see its options")),
                None => msg.push_str(". Run 'tentacle help' to list the commands"),
            }
            Err(CliError::Usage(msg))
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
