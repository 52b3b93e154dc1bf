//! What the script's log says when its interpreter (bash, or PowerShell on Windows) is missing or cannot be started: the interpreter by name and how to fix it, so a script that never ran is never mistaken for one that succeeded.

/// The error line for a script whose interpreter `program` could not be started.
pub fn start_failure(program: &str, error: &std::io::Error) -> String {
    let missing = error.kind() == std::io::ErrorKind::NotFound;
    if cfg!(windows) {
        let what = if missing {
            "was not found"
        } else {
            "could not be started"
        };
        format!(
            "The script was not run: Windows PowerShell ({program}) {what}: {error}. Tentacle runs scripts with Windows PowerShell 5.1; install or repair it (Windows feature 'Windows PowerShell'), and check that the account the Tentacle service runs as may run it"
        )
    } else if missing {
        let path = std::env::var("PATH").unwrap_or_default();
        format!(
            "The script was not run: the interpreter bash was not found ({program}: {error}): /bin/bash does not exist and no bash is on the PATH ({path}) of the account the agent runs as. Install bash (apt-get install bash, dnf install bash or apk add bash), or add its folder to that account's PATH"
        )
    } else {
        format!(
            "The script was not run: the interpreter bash ({program}) could not be started: {error}. Check that it is a working executable the account the agent runs as may run (ls -l {program}; {program} --version)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_interpreter_and_the_fix() {
        let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = start_failure("bash", &gone);
        assert!(text.contains("was not run"), "{text}");
        if cfg!(windows) {
            assert!(text.contains("PowerShell"), "{text}");
        } else {
            assert!(text.contains("bash was not found"), "{text}");
            assert!(text.contains("apt-get install bash"), "{text}");
        }
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let text = start_failure("/bin/bash", &denied);
        assert!(text.contains("could not be started"), "{text}");
    }
}
