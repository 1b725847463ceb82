//! `shell:` as GitHub's runner understands it (ScriptHandlerHelpers): the built-in templates,
//! custom `command args {0}` templates, the script file's extension and the wrapping some
//! shells need.

/// A shell choice before its program is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellTemplate {
    /// The program name (looked up on the step's `PATH`) or path.
    pub program: String,
    /// The argument string after the program, with `{0}` where the script path goes.
    pub args: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    #[error(
        "Invalid shell option '{0}'. Shell must be a valid built-in (bash, sh, cmd, powershell, pwsh, python) or a format string containing '{{0}}'"
    )]
    Invalid(String),
}

impl ShellTemplate {
    /// `shell` is the step's `shell:` or `defaults.run.shell`; `None` picks `bash -e {0}` when
    /// bash is on `PATH`, else `sh -e {0}`.
    pub fn choose(shell: Option<&str>, bash_on_path: bool) -> Result<ShellTemplate, ShellError> {
        let t = |program: &str, args: &str| ShellTemplate { program: program.to_owned(), args: args.to_owned() };
        let shell = shell.map(str::trim).filter(|s| !s.is_empty());
        Ok(match shell {
            None if bash_on_path => t("bash", "-e {0}"),
            None => t("sh", "-e {0}"),
            Some("bash") => t("bash", "--noprofile --norc -eo pipefail {0}"),
            Some("sh") => t("sh", "-e {0}"),
            Some("python") => t("python", "{0}"),
            Some("pwsh") => t("pwsh", "-command \". '{0}'\""),
            Some("powershell") => t("powershell", "-command \". '{0}'\""),
            Some("cmd") => t("cmd", "/D /E:ON /V:OFF /S /C \"CALL \"{0}\"\""),
            Some(custom) if custom.contains("{0}") => match custom.split_once(char::is_whitespace) {
                Some((program, args)) => t(program, args.trim_start()),
                None => return Err(ShellError::Invalid(custom.to_owned())),
            },
            Some(other) => return Err(ShellError::Invalid(other.to_owned())),
        })
    }

    fn command_name(&self) -> &str {
        self.program.rsplit('/').next().unwrap_or(&self.program)
    }

    /// The script file's extension, from the command name as GitHub derives it.
    pub fn extension(&self) -> &'static str {
        match self.command_name() {
            "bash" | "sh" => ".sh",
            "python" => ".py",
            "pwsh" | "powershell" => ".ps1",
            "cmd" => ".cmd",
            _ => "",
        }
    }

    /// The script as written to the file: PowerShell and cmd get GitHub's prologue/epilogue.
    pub fn wrap_script(&self, script: &str) -> String {
        match self.command_name() {
            "pwsh" | "powershell" => format!(
                "$ErrorActionPreference = 'stop'\n{script}\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) {{ exit $LASTEXITCODE }}"
            ),
            "cmd" => format!("@echo off\n{script}"),
            _ => script.to_owned(),
        }
    }

    /// The argument vector with `{0}` replaced by `script_path`.
    pub fn argv(&self, script_path: &str) -> Vec<String> {
        split_args(&self.args).into_iter().map(|arg| arg.replace("{0}", script_path)).collect()
    }
}

/// Splits an argument string the way .NET does on Unix (GitHub's runner hands it to
/// `Process.Start`): whitespace separates, double quotes group, `\"` is a literal quote.
pub fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = args.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(shell: Option<&str>, bash: bool, program: &str, argv: &[&str], ext: &str) {
        let Ok(t) = ShellTemplate::choose(shell, bash) else { panic!("{shell:?} should be valid") };
        assert_eq!(t.program, program, "{shell:?}");
        assert_eq!(t.argv("/t/s"), argv, "{shell:?}");
        assert_eq!(t.extension(), ext, "{shell:?}");
    }

    #[test]
    fn templates_like_github() {
        check(None, true, "bash", &["-e", "/t/s"], ".sh");
        check(None, false, "sh", &["-e", "/t/s"], ".sh");
        check(Some("bash"), false, "bash", &["--noprofile", "--norc", "-eo", "pipefail", "/t/s"], ".sh");
        check(Some("sh"), true, "sh", &["-e", "/t/s"], ".sh");
        check(Some("python"), true, "python", &["/t/s"], ".py");
        check(Some("pwsh"), true, "pwsh", &["-command", ". '/t/s'"], ".ps1");
        check(Some("perl {0}"), true, "perl", &["/t/s"], "");
        check(Some("bash -x {0}"), true, "bash", &["-x", "/t/s"], ".sh");
        check(Some("/opt/py/bin/python -u \"{0}\""), true, "/opt/py/bin/python", &["-u", "/t/s"], ".py");
    }

    #[test]
    fn rejects_unknown_shells() {
        assert!(ShellTemplate::choose(Some("zsh"), true).is_err());
        assert!(ShellTemplate::choose(Some("{0}"), true).is_err());
    }
}
