//! Keeping the group key secret in `node.toml` handling (docs/operations.md, "Secrets"):
//! configuration errors that never quote the key, and ssh-like warnings about files that
//! hold the key and can be read by others.

use std::path::Path;

use super::config::ConfigError;

/// A warning if `path` can be read or written by group or others (as ssh refuses an
/// unprotected private key): it holds the group key.
pub(super) fn exposed(what: &str, path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{what} {} is accessible by others (mode {mode:04o}): whoever reads it has the \
             group key; chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

/// The line of `text` that gives an inline `group_key`, if any (1-based), and its value.
fn inline_key_line(text: &str) -> Option<(usize, &str)> {
    text.lines().enumerate().find_map(|(i, l)| {
        let (k, v) = l.split_once('=')?;
        (k.trim().trim_matches(['"', '\'']) == "group_key").then_some((i + 1, v.trim()))
    })
}

/// A TOML error, without any of the group key: with an inline `group_key`, no source
/// excerpt is shown, and an error on its line (or quoting its value) says only where.
pub(super) fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let Some((key_line, value)) = inline_key_line(text) else {
        return ConfigError::Syntax(e.to_string().trim().into());
    };
    let Some(span) = e.span() else {
        return ConfigError::Syntax("TOML parse error (group_key not shown)".into());
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let value = value.trim_matches(['"', '\'']);
    let message = e.message().trim();
    if line == key_line || (value.len() >= 4 && message.contains(value)) {
        return ConfigError::Syntax(format!(
            "TOML parse error at line {line}: group_key must be a quoted hex string \
             (its value is not shown)"
        ));
    }
    ConfigError::Syntax(format!(
        "TOML parse error at line {line}, column {column}: {message}"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::config::NodeConfig;

    const GOOD: &str = r#"
id = 2
tun = "vtun"
anycast = "fd00:aa::1"
contact_node = 1
group_key = "00112233445566778899aabbccddeeff"

[members.1]
care_of = "fd00:20:1::1"
contact = true

[members.2]
care_of = "fd00:20:2::1"
"#;

    fn err(text: &str) -> String {
        NodeConfig::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_syntax_error_never_shows_the_group_key() {
        const KEY: &str = "00112233445566778899aabbccddeeff";
        let q = format!("\"{KEY}\"");
        for bad in [
            format!("\"{KEY}"),
            KEY.to_string(),
            "1234567890".to_string(),
            format!("\"\"\"{KEY}"),
            format!("[{q}]"),
        ] {
            let e = err(&GOOD.replace(&q, &bad));
            assert!(e.contains("line"), "{e}");
            for part in [&KEY[..8], "1234567890"] {
                assert!(!e.contains(part), "{bad}: {e}");
            }
        }
        // A bad hex digit is named by its place, not shown.
        let e = err(&GOOD.replace(KEY, "00112233445566778899aabbccddeezz"));
        assert_eq!(e, "group_key: not hex: digit 31 is not a hex digit");
        // An error elsewhere still says where, and what.
        let e = err(&GOOD.replace("id = 2", "id = \"two\""));
        assert!(e.contains("line 2") && e.contains("expected"), "{e}");
    }

    #[test]
    fn a_key_readable_by_others_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vany-cfg-perm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let chmod = |f: &str, mode| {
            std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        // Inline key in a world-readable file.
        std::fs::write(dir.join("inline.toml"), GOOD).unwrap();
        chmod("inline.toml", 0o644);
        let c = NodeConfig::load(&dir.join("inline.toml")).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains("inline.toml") && c.warnings[0].contains("mode 0644"),
            "{:?}",
            c.warnings
        );
        chmod("inline.toml", 0o600);
        assert!(NodeConfig::load(&dir.join("inline.toml"))
            .unwrap()
            .warnings
            .is_empty());
        // A key file readable by others; the config itself (no key in it) may be.
        std::fs::write(dir.join("group.key"), "00112233445566778899aabbccddeeff\n").unwrap();
        let text = GOOD.replace(
            "group_key = \"00112233445566778899aabbccddeeff\"",
            "group_key_file = \"group.key\"",
        );
        std::fs::write(dir.join("file.toml"), text).unwrap();
        chmod("file.toml", 0o644);
        chmod("group.key", 0o604);
        let c = NodeConfig::load(&dir.join("file.toml")).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("group.key"), "{:?}", c.warnings);
        chmod("group.key", 0o600);
        assert!(NodeConfig::load(&dir.join("file.toml"))
            .unwrap()
            .warnings
            .is_empty());
        for w in &c.warnings {
            assert!(!w.contains("0011223344"), "{w}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
