//! Tentacle-style argument spelling: command and option names in any case, `-opt` as well as `--opt`.

use std::collections::HashMap;
use std::ffi::OsString;

use clap::CommandFactory;

use super::commands::Cli;

/// Rewrites the arguments (program name excluded) into the canonical spelling clap expects:
/// the command name lower-cased, and each option name matched case-insensitively against the
/// command's declared names. Values are never touched; unknown names pass through for clap
/// to report.
pub fn normalise(args: Vec<OsString>) -> Vec<OsString> {
    let cmd = Cli::command();
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    let mut sub: Option<clap::Command> = None;

    // Global options may come before the command name.
    for arg in iter.by_ref() {
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text.starts_with('-') {
            out.push(rewrite_option(text, &options_of(&cmd, None)).into());
            continue;
        }
        let lowered = text.to_ascii_lowercase();
        sub = cmd
            .get_subcommands()
            .find(|s| s.get_name() == lowered || s.get_all_aliases().any(|a| a == lowered))
            .cloned();
        out.push(if sub.is_some() { lowered.into() } else { arg });
        break;
    }
    let names = options_of(&cmd, sub.as_ref());
    let mut after_dashes = false;
    for arg in iter {
        match arg.to_str() {
            Some("--") => {
                after_dashes = true;
                out.push(arg);
            }
            Some(text) if !after_dashes && text.starts_with('-') && text.len() > 1 => {
                out.push(rewrite_option(text, &names).into());
            }
            _ => out.push(arg),
        }
    }
    out
}

/// Lower-cased long name (and alias) → the declared spelling.
fn options_of(root: &clap::Command, sub: Option<&clap::Command>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut add = |c: &clap::Command| {
        for a in c.get_arguments() {
            if let Some(long) = a.get_long() {
                map.insert(long.to_ascii_lowercase(), long.to_owned());
            }
            for alias in a.get_all_aliases().unwrap_or_default() {
                map.insert(alias.to_ascii_lowercase(), alias.to_owned());
            }
        }
    };
    add(root);
    if let Some(s) = sub {
        add(s);
    }
    map.insert("help".into(), "help".into());
    map
}

fn rewrite_option(text: &str, names: &HashMap<String, String>) -> String {
    let (dashes, body) = if let Some(b) = text.strip_prefix("--") {
        ("--", b)
    } else {
        ("-", &text[1..])
    };
    let (name, value) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    // A single dash with one letter is a short option (-b, -f); leave it to clap.
    if dashes == "-" && name.chars().count() <= 1 {
        return text.to_owned();
    }
    match names.get(&name.to_ascii_lowercase()) {
        Some(canonical) => match value {
            Some(v) => format!("--{canonical}={v}"),
            None => format!("--{canonical}"),
        },
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalise(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn option_names_are_case_insensitive() {
        assert_eq!(
            norm(&[
                "Configure",
                "--NOLISTEN",
                "True",
                "--Instance=Web",
                "-reset-trust"
            ]),
            [
                "configure",
                "--noListen",
                "True",
                "--instance=Web",
                "--reset-trust"
            ]
        );
        assert_eq!(
            norm(&["configure", "--homedir", "/x", "--ListenIPAddress", "any"]),
            ["configure", "--homedir", "/x", "--listenIpAddress", "any"]
        );
    }

    #[test]
    fn values_and_unknown_options_are_untouched() {
        assert_eq!(
            norm(&["configure", "--trust", "--Mystery", "-b", "--", "--PORT"]),
            ["configure", "--trust", "--Mystery", "-b", "--", "--PORT"]
        );
    }
}
