//! Man pages and shell completions generated from the command-line definitions
//! (`vany generate-docs DIR`, used by scripts/build-deb.sh): one man page per command and
//! subcommand (`vany.1`, `vany-node.1`, `vany-ctl-handoff.1`, ...; clap_mangen) and
//! completions for bash, zsh and fish (clap_complete). Hidden commands are left out of
//! both.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Command;
use clap_complete::Shell;

/// A file or directory that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct DocsError {
    /// What was being written.
    pub path: PathBuf,
    /// Why it failed.
    #[source]
    pub source: std::io::Error,
}

/// The completion files: the shell and the file name each shell's packaging expects.
pub const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "vany.bash"),
    (Shell::Zsh, "_vany"),
    (Shell::Fish, "vany.fish"),
];

/// `cmd` without its hidden subcommands (at any depth): what a user may type, and so
/// what the man pages and completions describe.
pub fn public(cmd: &Command) -> Command {
    let mut out = Command::new(cmd.get_name().to_string())
        .propagate_version(cmd.is_propagate_version_set())
        .subcommand_required(cmd.is_subcommand_required_set())
        .arg_required_else_help(cmd.is_arg_required_else_help_set())
        .args(cmd.get_arguments().cloned());
    if let Some(v) = cmd.get_version() {
        out = out.version(v.to_string());
    }
    if let Some(v) = cmd.get_long_version() {
        out = out.long_version(v.to_string());
    }
    if let Some(a) = cmd.get_about() {
        out = out.about(a.clone());
    }
    if let Some(a) = cmd.get_long_about() {
        out = out.long_about(a.clone());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_subcommands().any(Command::is_hide_set) {
            out = out.subcommand(public(sub));
        } else {
            out = out.subcommand(sub.clone());
        }
    }
    out
}

/// Writes `dir/man1/*.1` and `dir/completions/{vany.bash,_vany,vany.fish}` for `cmd`
/// (its hidden subcommands left out); returns the files written.
pub fn generate(cmd: &Command, dir: &Path) -> Result<Vec<PathBuf>, DocsError> {
    let cmd = public(cmd);
    let man = dir.join("man1");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(|source| DocsError {
            path: d.clone(),
            source,
        })?;
    }
    let name = cmd.get_name().to_string();
    // Every page's footer names the program and its version, not the subcommand's name.
    let source = format!("{name} {}", cmd.get_version().unwrap_or_default());
    let mut built = cmd.clone().disable_help_subcommand(true);
    built.build();
    let mut files = Vec::new();
    man_pages(&built, &source, &man, &mut files)?;
    files.sort();
    for (shell, file) in COMPLETIONS {
        let path = completions.join(file);
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), &name, &mut text);
        File::create(&path)
            .and_then(|mut f| f.write_all(&text))
            .map_err(|source| DocsError {
                path: path.clone(),
                source,
            })?;
        files.push(path);
    }
    Ok(files)
}

/// Writes the man page of `cmd` (built: subcommands know their full names) and of each
/// of its subcommands into `dir`, appending the files to `files`.
fn man_pages(
    cmd: &Command,
    source: &str,
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<(), DocsError> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, source, dir, files)?;
    }
    let page = clap_mangen::Man::new(cmd.clone()).source(source);
    let path = dir.join(page.get_filename());
    let mut text = Vec::new();
    page.render(&mut text)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|source| DocsError {
            path: path.clone(),
            source,
        })?;
    files.push(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Command {
        Command::new("toy")
            .version("1.0")
            .about("A toy.")
            .subcommand(
                Command::new("run")
                    .about("Runs.")
                    .subcommand(Command::new("fast").about("Fast."))
                    .subcommand(Command::new("secret").hide(true)),
            )
            .subcommand(Command::new("internal").hide(true))
    }

    #[test]
    fn public_drops_hidden_subcommands_at_every_depth() {
        let p = public(&toy());
        let names: Vec<&str> = p.get_subcommands().map(Command::get_name).collect();
        assert_eq!(names, ["run"]);
        let run = p.find_subcommand("run").expect("run");
        let names: Vec<&str> = run.get_subcommands().map(Command::get_name).collect();
        assert_eq!(names, ["fast"]);
        assert_eq!(p.get_version(), Some("1.0"));
    }

    #[test]
    fn generate_writes_a_page_per_command_and_three_completions() {
        let dir = std::env::temp_dir().join(format!("vany-docs-unit-{}", std::process::id()));
        let files = generate(&toy(), &dir).expect("generate");
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "toy-run-fast.1",
                "toy-run.1",
                "toy.1",
                "vany.bash",
                "_vany",
                "vany.fish"
            ]
        );
        let bash = std::fs::read_to_string(dir.join("completions/vany.bash")).unwrap();
        assert!(bash.contains("fast") && !bash.contains("secret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
