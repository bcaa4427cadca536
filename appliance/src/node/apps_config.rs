//! node.toml's `apps` table: port -> app, besides `app_port`. A built-in app is named by
//! a string (`7 = "echo"`); an app with options is a table with its `kind`:
//!
//! ```toml
//! apps = { 7 = "echo", 8080 = "http", 443 = { kind = "files", root = "/srv/www" } }
//! ```
//!
//! `files` options: `root` (an absolute path to a directory, required), `index` (file
//! names tried for a directory, default `["index.html"]`), `listing` (list a directory
//! without an index file, default false), `max_open` (open files held, 1 to 65536,
//! default 64). `proxy` options: `backend` (the web server on this host, an address and
//! port such as `"[::1]:8080"` or `"127.0.0.1:8080"`, required), `timeout_ms` (for the
//! response head, and for a stalled body, 100 to 3600000, default 30000),
//! `max_body_kib` (request bodies, 0 to 1048576, default 8192). Every error names its
//! key (`apps.443.root`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use vany_stack::time::Duration;

use crate::apps::{AppKind, FilesConfig, ProxyConfig};

use super::config::{invalid, ConfigError};

/// The apps of the `apps` table, and the options of each `files` app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostedApps {
    /// Port -> app.
    pub kinds: BTreeMap<u16, AppKind>,
    /// Port -> directory, for each port whose app is [`AppKind::Files`].
    pub files: BTreeMap<u16, FilesConfig>,
    /// Port -> backend, for each port whose app is [`AppKind::Proxy`].
    pub proxies: BTreeMap<u16, ProxyConfig>,
}

/// The options of an app given as a table.
enum Options {
    Files(FilesConfig),
    Proxy(ProxyConfig),
}

/// Reads the `apps` table (`app_port` hosts the stream source and may not be reused).
pub(super) fn parse_apps(
    table: BTreeMap<String, toml::Value>,
    app_port: u16,
) -> Result<HostedApps, ConfigError> {
    let mut apps = HostedApps::default();
    for (port, value) in table {
        let key = format!("apps.{port}");
        let p: u16 =
            port.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                invalid(&key, format!("not a port number (1 to 65535): '{port}'"))
            })?;
        if p == app_port {
            return Err(invalid(
                &key,
                "app_port already hosts the stream source there",
            ));
        }
        match value {
            toml::Value::String(name) => {
                let kind: AppKind = name.parse().map_err(|e: String| invalid(&key, e))?;
                apps.kinds.insert(p, kind);
            }
            toml::Value::Table(t) => {
                let (kind, options) = parse_table(&key, t)?;
                apps.kinds.insert(p, kind);
                match options {
                    Some(Options::Files(f)) => {
                        apps.files.insert(p, f);
                    }
                    Some(Options::Proxy(c)) => {
                        apps.proxies.insert(p, c);
                    }
                    None => {}
                }
            }
            other => {
                return Err(invalid(
                    &key,
                    format!(
                        "expected an app name or a table with its kind, not a {}",
                        other.type_str()
                    ),
                ))
            }
        }
    }
    Ok(apps)
}

/// An app given as a table: its kind, and the options of a `files` or `proxy` app.
fn parse_table(key: &str, mut t: toml::Table) -> Result<(AppKind, Option<Options>), ConfigError> {
    let kind = match t.remove("kind") {
        Some(toml::Value::String(k)) => k,
        Some(_) => return Err(invalid(format!("{key}.kind"), "must be a string")),
        None => return Err(invalid(format!("{key}.kind"), "missing: which app")),
    };
    if kind == "proxy" {
        return Ok((AppKind::Proxy, Some(Options::Proxy(parse_proxy(key, t)?))));
    }
    if kind != "files" {
        let kind: AppKind = kind
            .parse()
            .map_err(|e: String| invalid(format!("{key}.kind"), e))?;
        if let Some(extra) = t.keys().next() {
            return Err(invalid(
                format!("{key}.{extra}"),
                "unknown option (only files and proxy apps take options)",
            ));
        }
        return Ok((kind, None));
    }
    let root = match t.remove("root") {
        Some(toml::Value::String(r)) => PathBuf::from(r),
        Some(_) => return Err(invalid(format!("{key}.root"), "must be a string")),
        None => {
            return Err(invalid(
                format!("{key}.root"),
                "missing: the directory to serve",
            ))
        }
    };
    if !root.is_absolute() {
        return Err(invalid(
            format!("{key}.root"),
            format!("must be an absolute path, not '{}'", root.display()),
        ));
    }
    if !root.is_dir() {
        return Err(invalid(
            format!("{key}.root"),
            format!("'{}' is not a directory", root.display()),
        ));
    }
    let mut files = FilesConfig::new(root);
    for (name, value) in t {
        let k = format!("{key}.{name}");
        match (name.as_str(), value) {
            ("index", toml::Value::Array(a)) => {
                files.index = a
                    .into_iter()
                    .map(|v| match v {
                        toml::Value::String(s) if valid_index(&s) => Ok(s),
                        _ => Err(invalid(&k, "must be file names (no '/', not '..')")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            ("listing", toml::Value::Boolean(b)) => files.listing = b,
            ("max_open", toml::Value::Integer(n)) if (1..=65536).contains(&n) => {
                files.max_open = n as usize;
            }
            ("index", _) => return Err(invalid(&k, "must be an array of file names")),
            ("listing", _) => return Err(invalid(&k, "must be true or false")),
            ("max_open", _) => return Err(invalid(&k, "must be 1 to 65536")),
            _ => return Err(invalid(&k, "unknown option of a files app")),
        }
    }
    Ok((AppKind::Files, Some(Options::Files(files))))
}

/// The options of a `proxy` app.
fn parse_proxy(key: &str, mut t: toml::Table) -> Result<ProxyConfig, ConfigError> {
    let k = format!("{key}.backend");
    let backend = match t.remove("backend") {
        Some(toml::Value::String(b)) => b.parse().map_err(|_| {
            invalid(
                &k,
                format!("'{b}' is not an address and port (\"[::1]:8080\", \"127.0.0.1:8080\")"),
            )
        })?,
        Some(_) => return Err(invalid(&k, "must be a string")),
        None => return Err(invalid(&k, "missing: the web server to proxy to")),
    };
    let mut c = ProxyConfig::new(backend);
    for (name, value) in t {
        let k = format!("{key}.{name}");
        match (name.as_str(), value) {
            ("timeout_ms", toml::Value::Integer(n)) if (100..=3_600_000).contains(&n) => {
                c.timeout = Duration::from_millis(n as u64);
            }
            ("max_body_kib", toml::Value::Integer(n)) if (0..=1 << 20).contains(&n) => {
                c.max_body = (n as u64) << 10;
            }
            ("timeout_ms", _) => return Err(invalid(&k, "must be 100 to 3600000")),
            ("max_body_kib", _) => return Err(invalid(&k, "must be 0 to 1048576")),
            _ => return Err(invalid(&k, "unknown option of a proxy app")),
        }
    }
    Ok(c)
}

/// An index file name: one path segment.
fn valid_index(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HostedApps, String> {
        let table: BTreeMap<String, toml::Value> =
            toml::from_str(text).map_err(|e| e.to_string())?;
        parse_apps(table, 80).map_err(|e| e.to_string())
    }

    #[test]
    fn names_and_tables_are_read() {
        let dir = std::env::temp_dir();
        let root = dir.display();
        let a = parse(&format!(
            "7 = \"echo\"\n8080 = {{ kind = \"http\" }}\n\
             443 = {{ kind = \"files\", root = \"{root}\", index = [\"i.htm\"], listing = true, max_open = 9 }}\n\
             444 = {{ kind = \"files\", root = \"{root}\" }}"
        ))
        .unwrap();
        assert_eq!(a.kinds[&7], AppKind::Echo);
        assert_eq!(a.kinds[&8080], AppKind::Http);
        assert_eq!(a.kinds[&443], AppKind::Files);
        let f = &a.files[&443];
        assert_eq!(f.root, dir);
        assert_eq!(f.index, vec!["i.htm".to_string()]);
        assert!(f.listing);
        assert_eq!(f.max_open, 9);
        assert_eq!(a.files[&444], FilesConfig::new(dir.clone()));
        assert_eq!(a.files.len(), 2);
        let a = parse(
            "81 = { kind = \"proxy\", backend = \"[::1]:8080\" }\n\
             82 = { kind = \"proxy\", backend = \"127.0.0.1:9\", timeout_ms = 500, max_body_kib = 0 }",
        )
        .unwrap();
        assert_eq!(a.kinds[&81], AppKind::Proxy);
        assert_eq!(
            a.proxies[&81],
            ProxyConfig::new("[::1]:8080".parse().unwrap())
        );
        let p = &a.proxies[&82];
        assert_eq!((p.timeout, p.max_body), (Duration::from_millis(500), 0));
    }

    #[test]
    fn every_error_names_its_key() {
        let root = std::env::temp_dir();
        let root = root.display();
        for (text, key) in [
            ("7 = \"gopher\"".to_string(), "apps.7"),
            ("7 = \"files\"".to_string(), "apps.7"),
            ("7 = 3".to_string(), "apps.7"),
            ("x = \"echo\"".to_string(), "apps.x"),
            ("80 = \"echo\"".to_string(), "apps.80"),
            ("7 = { root = \"/\" }".to_string(), "apps.7.kind"),
            ("7 = { kind = \"files\" }".to_string(), "apps.7.root"),
            (
                "7 = { kind = \"files\", root = \"srv\" }".to_string(),
                "apps.7.root",
            ),
            (
                "7 = { kind = \"files\", root = \"/nonexistent/vany\" }".to_string(),
                "apps.7.root",
            ),
            (
                format!("7 = {{ kind = \"files\", root = \"{root}\", max_open = 0 }}"),
                "apps.7.max_open",
            ),
            (
                format!("7 = {{ kind = \"files\", root = \"{root}\", index = [\"../x\"] }}"),
                "apps.7.index",
            ),
            (
                format!("7 = {{ kind = \"files\", root = \"{root}\", listing = 1 }}"),
                "apps.7.listing",
            ),
            (
                format!("7 = {{ kind = \"files\", root = \"{root}\", roots = 1 }}"),
                "apps.7.roots",
            ),
            (
                "7 = { kind = \"echo\", root = \"/\" }".to_string(),
                "apps.7.root",
            ),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
