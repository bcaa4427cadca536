//! The operator assets in packaging/monitoring: the Grafana dashboard (`vany-node.json`) and
//! the Prometheus alert rules (`vany-alerts.yml`). Both must parse, and every PromQL
//! expression in them may name only metrics docs/operations.md documents, with the labels
//! it documents for them and label values it names; the dashboard must show every
//! documented metric. `promtool` (Debian: prometheus; `.ci/run` extracts it) checks the
//! rules and the dashboard's queries, and runs the alert cases in
//! tests/operator_assets/alerts.test.yml.

mod netns_common;
mod temp_dir;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use netns_common::{run_limited, skip};
use temp_dir::TempDir;

const DOCS: &str = include_str!("../../docs/operations.md");
const DASHBOARD: &str = include_str!("../../packaging/monitoring/vany-node.json");
const ALERTS: &str = include_str!("../../packaging/monitoring/vany-alerts.yml");
const ALERT_CASES: &str = include_str!("operator_assets/alerts.test.yml");

/// Labels every scraped series has (added by Prometheus), usable on any metric.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];
/// The suffixes of a histogram's series.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// A metric as docs/operations.md's tables list it.
#[derive(Debug)]
struct Documented {
    kind: String,
    labels: BTreeSet<String>,
}

/// The metrics in the tables of docs/operations.md (`| \`vany_...{labels}\` | type | ...`).
fn documented() -> BTreeMap<String, Documented> {
    let mut out = BTreeMap::new();
    for row in DOCS.lines().filter(|l| l.starts_with("| `vany_")) {
        let cells: Vec<&str> = row.split('|').collect();
        let kind = cells
            .get(2)
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        for token in cells[1].split('`').filter(|t| t.starts_with("vany_")) {
            let (name, labels) = match token.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (token, ""),
            };
            let labels = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            let kind = kind.clone();
            out.insert(name.to_string(), Documented { kind, labels });
        }
    }
    out
}

/// A PromQL token: enough of the language to find metric names, matchers and groupings.
#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Punct(char),
}

/// Splits `expr` into identifiers, string literals and punctuation (numbers and
/// durations are dropped).
fn tokens(expr: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let mut ident = String::new();
            while let Some(&c) = chars
                .peek()
                .filter(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == ':')
            {
                ident.push(c);
                chars.next();
            }
            out.push(Token::Ident(ident));
        } else if c.is_ascii_digit() || c == '.' {
            while chars
                .next_if(|c| c.is_ascii_alphanumeric() || *c == '.')
                .is_some()
            {}
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('\\') => s.extend(chars.next()),
                    Some(q) if q == c => break,
                    Some(x) => s.push(x),
                    None => return Err(format!("unterminated string in {expr}")),
                }
            }
            out.push(Token::Str(s));
        } else {
            if !c.is_whitespace() {
                out.push(Token::Punct(c));
            }
            chars.next();
        }
    }
    Ok(out)
}

/// One `metric{label op "value", ...}` in an expression.
#[derive(Debug)]
struct Selector {
    metric: String,
    matchers: Vec<(String, String)>,
}

/// What an expression uses: its `vany_` selectors and the labels it groups or matches on.
#[derive(Debug, Default)]
struct Uses {
    selectors: Vec<Selector>,
    grouping: BTreeSet<String>,
}

/// The selectors of `vany_` metrics in `expr` and the labels it groups or matches on.
fn uses(expr: &str) -> Result<Uses, String> {
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let toks = tokens(expr)?;
    let mut u = Uses::default();
    let mut i = 0;
    while i < toks.len() {
        let Token::Ident(id) = &toks[i] else {
            i += 1;
            continue;
        };
        i += 1;
        let opens = |i: usize, c| toks.get(i) == Some(&Token::Punct(c));
        if GROUPING.contains(&id.as_str()) && opens(i, '(') {
            while let Some(t) = toks.get(i).filter(|t| **t != Token::Punct(')')) {
                if let Token::Ident(label) = t {
                    u.grouping.insert(label.clone());
                }
                i += 1;
            }
        } else if id.starts_with("vany_") {
            let mut matchers = Vec::new();
            if opens(i, '{') {
                // label op "value" [, ...] }
                while let Some(t) = toks.get(i).filter(|t| **t != Token::Punct('}')) {
                    if let Token::Ident(label) = t {
                        let value = toks[i + 1..].iter().find(|t| !matches!(t, Token::Punct(_)));
                        let Some(Token::Str(value)) = value else {
                            return Err(format!("{label} has no value in {expr}"));
                        };
                        matchers.push((label.clone(), value.clone()));
                    }
                    i += 1;
                }
            }
            let metric = id.clone();
            u.selectors.push(Selector { metric, matchers });
        }
    }
    Ok(u)
}

/// Checks that `expr` names only documented metrics (a histogram's `_bucket`, `_sum`,
/// `_count` series count as the histogram), with documented labels, label values the
/// docs name in backquotes (alternatives `a|b` each), and groups by labels its metrics
/// have. Returns the metric names it uses.
fn check_expr(expr: &str, docs: &BTreeMap<String, Documented>) -> Result<Vec<String>, String> {
    let u = uses(expr)?;
    let mut names = Vec::new();
    let mut all_labels: BTreeSet<String> = TARGET_LABELS.map(String::from).into();
    for sel in &u.selectors {
        let histogram = HISTOGRAM_SUFFIXES.iter().find_map(|suffix| {
            let base = sel.metric.strip_suffix(suffix)?;
            docs.get(base)
                .filter(|d| d.kind == "histogram")
                .map(|d| (*suffix, d))
        });
        let (doc, extra) = match (docs.get(&sel.metric), histogram) {
            (Some(d), _) if d.kind != "histogram" => (d, None),
            (_, Some((suffix, d))) => (d, (suffix == "_bucket").then_some("le")),
            _ => {
                return Err(format!(
                    "{} is not documented in docs/operations.md: {expr}",
                    sel.metric
                ))
            }
        };
        let labels: BTreeSet<String> = doc
            .labels
            .iter()
            .cloned()
            .chain(extra.map(String::from))
            .collect();
        for (label, value) in &sel.matchers {
            if TARGET_LABELS.contains(&label.as_str()) {
                continue;
            }
            if !labels.contains(label) {
                return Err(format!(
                    "{} has no label {label} in docs/operations.md: {expr}",
                    sel.metric
                ));
            }
            for alt in value.split('|') {
                let plain = !alt.is_empty()
                    && alt
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !plain || !DOCS.contains(&format!("`{alt}`")) {
                    return Err(format!(
                        "{label}=\"{alt}\" is not a value docs/operations.md names: {expr}"
                    ));
                }
            }
        }
        all_labels.extend(labels);
        names.push(sel.metric.clone());
    }
    if let Some(l) = u.grouping.iter().find(|l| !all_labels.contains(*l)) {
        return Err(format!(
            "groups by {l}, a label none of its metrics has: {expr}"
        ));
    }
    if names.is_empty() && !expr.contains("up{") {
        return Err(format!("no vany metric in {expr}"));
    }
    Ok(names)
}

/// The dashboard's panels, those inside collapsed rows too.
fn panels(dash: &Value) -> Vec<&Value> {
    let top = dash["panels"].as_array().expect("the dashboard has panels");
    let nested = top.iter().filter_map(|p| p["panels"].as_array()).flatten();
    top.iter().chain(nested).collect()
}

/// The dashboard's template variable `name`.
fn variable<'a>(dash: &'a Value, name: &str) -> &'a Value {
    let vars = dash["templating"]["list"]
        .as_array()
        .expect("templating.list");
    vars.iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no variable {name} in the dashboard"))
}

#[test]
fn dashboard_shows_documented_metrics_per_instance() {
    let dash: Value = serde_json::from_str(DASHBOARD).expect("vany-node.json is JSON");
    let docs = documented();
    assert!(
        docs.len() > 60,
        "docs/operations.md lists {} metrics",
        docs.len()
    );
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 39));
    assert_eq!(dash["uid"], "vany-node");
    assert!(dash["id"].is_null(), "an exported dashboard has no id");

    let ds = variable(&dash, "datasource");
    assert_eq!(
        (&ds["type"], &ds["query"]),
        (&"datasource".into(), &"prometheus".into())
    );
    let instance = variable(&dash, "instance");
    assert_eq!(instance["type"], "query");
    assert_eq!(instance["datasource"]["uid"], "${datasource}");
    let query = instance["query"]["query"]
        .as_str()
        .expect("the instance query");
    assert_eq!(query, "label_values(vany_node_info, instance)");

    let mut ids = BTreeSet::new();
    let mut shown = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for p in panels(&dash) {
        let title = p["title"].as_str().expect("every panel has a title");
        assert!(
            ids.insert(p["id"].as_u64().expect("id")),
            "{title}: id twice"
        );
        let pos = &p["gridPos"];
        let (x, w) = (pos["x"].as_u64().expect("x"), pos["w"].as_u64().expect("w"));
        assert!(
            x + w <= 24 && pos["h"].as_u64().is_some() && pos["y"].as_u64().is_some(),
            "{title}: {pos}"
        );
        if p["type"] == "row" {
            continue;
        }
        kinds.insert(p["type"].as_str().expect("type"));
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        assert!(
            p["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{title}: no description"
        );
        let targets = p["targets"].as_array().filter(|t| !t.is_empty());
        for t in targets.unwrap_or_else(|| panic!("{title}: no query")) {
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: no expr"));
            let names = check_expr(expr, &docs).unwrap_or_else(|e| panic!("{title}: {e}"));
            // Every selector follows the instance variable.
            for sel in uses(expr).unwrap().selectors {
                let by_instance = ("instance".to_string(), "$instance".to_string());
                assert!(
                    sel.matchers.contains(&by_instance),
                    "{title}: {} ignores $instance",
                    sel.metric
                );
            }
            shown.extend(names);
        }
    }
    assert_eq!(kinds, ["heatmap", "stat", "table", "timeseries"].into());
    // Every documented metric is on the dashboard (a histogram through its series).
    let shown_base: BTreeSet<&str> = shown
        .iter()
        .map(|n| {
            HISTOGRAM_SUFFIXES
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .filter(|b| docs.contains_key(*b))
                .unwrap_or(n)
        })
        .collect();
    let missing: Vec<&String> = docs
        .keys()
        .filter(|n| !shown_base.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "documented metrics the dashboard does not show: {missing:?}"
    );
    // The duration histogram as a heatmap and as quantiles.
    let exprs: Vec<&str> = panels(&dash)
        .iter()
        .filter_map(|p| p["targets"].as_array())
        .flatten()
        .filter_map(|t| t["expr"].as_str())
        .collect();
    for q in ["0.5", "0.95", "0.99"] {
        let quantile = format!(
            "histogram_quantile({q}, sum by (le) (rate(vany_handoff_duration_seconds_bucket"
        );
        assert!(
            exprs.iter().any(|e| e.starts_with(&quantile)),
            "no p{q} of handoff durations"
        );
    }
    let heatmap = panels(&dash)
        .into_iter()
        .find(|p| p["type"] == "heatmap")
        .unwrap();
    assert_eq!(heatmap["targets"][0]["format"], "heatmap");
    assert!(heatmap["targets"][0]["expr"]
        .as_str()
        .unwrap()
        .contains("vany_handoff_duration_seconds_bucket"));
}

/// The alert rules: (name, the rule).
fn alert_rules(doc: &Yaml) -> Vec<(String, &Yaml)> {
    let groups = doc["groups"].as_vec().expect("groups");
    assert!(!groups.is_empty());
    let mut out = Vec::new();
    for g in groups {
        assert!(g["name"].as_str().is_some(), "a group without a name");
        for r in g["rules"].as_vec().expect("rules") {
            let name = r["alert"].as_str().expect("every rule is an alert");
            out.push((name.to_string(), r));
        }
    }
    out
}

#[test]
fn alert_rules_use_documented_metrics_and_tell_what_to_do() {
    let docs = documented();
    let parsed = YamlLoader::load_from_str(ALERTS).expect("vany-alerts.yml is YAML");
    let [doc] = parsed.as_slice() else {
        panic!("one YAML document expected");
    };
    let rules = alert_rules(doc);
    let names: BTreeSet<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), rules.len(), "an alert name twice");
    for expected in [
        "VanyTargetDown",
        "VanyMemberDown",
        "VanyHandoffsFailing",
        "VanyDropsRising",
        "VanyForgedControlMessages",
        "VanyDrainingTooLong",
        "VanyProxyBackendErrors",
    ] {
        assert!(names.contains(expected), "no {expected}");
    }
    for (name, r) in &rules {
        let expr = r["expr"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no expr"));
        check_expr(expr, &docs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let r#for = r["for"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no for"));
        assert!(r#for.ends_with('m'), "{name}: for {for}");
        let severity = r["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{name}: severity {severity:?}"
        );
        let summary = r["annotations"]["summary"].as_str();
        assert!(summary.is_some_and(|s| !s.is_empty()), "{name}: no summary");
        let description = r["annotations"]["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("docs/operations.md, "),
            "{name}: the description points to no section"
        );
        // docs/operations.md tells what each alert means.
        assert!(
            DOCS.contains(&format!("`{name}`")),
            "{name} is not in docs/operations.md"
        );
    }
}

/// `promtool` if it is installed, else a skip.
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool").arg("--version").output();
    if found.is_ok_and(|o| o.status.success()) {
        return Some("promtool");
    }
    skip("no promtool (Debian: the prometheus package; .ci/run extracts promtool from it)");
    None
}

fn promtool_run(args: &[&str], dir: &Path) {
    let out = run_limited(
        Command::new("promtool").args(args).current_dir(dir),
        Duration::from_secs(120),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}: {text}");
    println!("promtool {args:?}: {}", text.trim());
}

/// The alert rules without annotations, as YAML (JSON strings are YAML double-quoted ones).
fn rules_without_annotations() -> String {
    let parsed = YamlLoader::load_from_str(ALERTS).expect("YAML");
    let mut out = String::from("groups:\n  - name: vany\n    rules:\n");
    for (name, r) in alert_rules(&parsed[0]) {
        let q = |v: &Yaml| serde_json::to_string(v.as_str().expect("a string")).unwrap();
        out += &format!(
            "      - alert: {name}\n        expr: {}\n        for: {}\n",
            q(&r["expr"]),
            q(&r["for"])
        );
        out += &format!(
            "        labels: {{severity: {}}}\n",
            q(&r["labels"]["severity"])
        );
    }
    out
}

/// The dashboard's queries as recording rules, its variables replaced by what Grafana
/// would put there, for `promtool check rules` to parse.
fn dashboard_as_rules() -> String {
    let dash: Value = serde_json::from_str(DASHBOARD).expect("JSON");
    let mut out = String::from("groups:\n  - name: vany_dashboard\n    rules:\n");
    for p in panels(&dash) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m")
                .replace("$instance", ".+");
            let record = format!(
                "vany_dashboard:panel{}_{}",
                p["id"],
                t["refId"].as_str().unwrap()
            );
            out += &format!(
                "      - record: {record}\n        expr: {}\n",
                serde_json::to_string(&expr).unwrap()
            );
        }
    }
    out
}

#[test]
fn promtool_checks_rules_dashboard_queries_and_alert_cases() {
    let Some(_) = promtool() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = "packaging/monitoring/vany-alerts.yml";
    promtool_run(&["check", "rules", file], &root);

    let dir = TempDir::new("operator-assets", "promtool");
    std::fs::write(dir.0.join("dashboard.yml"), dashboard_as_rules()).unwrap();
    promtool_run(&["check", "rules", "dashboard.yml"], &dir.0);

    std::fs::write(dir.0.join("vany-alerts.yml"), rules_without_annotations()).unwrap();
    let cases = format!("rule_files: [vany-alerts.yml]\n{ALERT_CASES}");
    std::fs::write(dir.0.join("alerts.test.yml"), cases).unwrap();
    promtool_run(&["test", "rules", "alerts.test.yml"], &dir.0);
}

#[test]
fn the_expression_check_rejects_what_the_docs_do_not_name() {
    let docs = documented();
    let ok = [
        r#"sum by (instance, reason) (rate(vany_drops_total{reason=~"peer_forged|tx_full"}[5m]))"#,
        r#"histogram_quantile(0.9, sum by (le) (rate(vany_handoff_duration_seconds_bucket[5m])))"#,
        r#"rate(vany_handoff_duration_seconds_sum[5m]) / on (instance) rate(vany_handoff_duration_seconds_count[5m])"#,
        r#"vany_handoffs_total{instance=~"$instance", outcome!="pending"}"#,
        r#"up{job="vany"} == 0"#,
    ];
    for expr in ok {
        assert!(
            check_expr(expr, &docs).is_ok(),
            "{expr}: {:?}",
            check_expr(expr, &docs)
        );
    }
    let wrong = [
        ("rate(vany_handoffs[5m])", "not documented"),
        ("rate(vany_no_such_total[5m])", "not documented"),
        ("rate(vany_sessions_bucket[5m])", "not documented"),
        ("vany_handoff_duration_seconds", "not documented"),
        (r#"vany_drops_total{reason="peer_forgd"}"#, "not a value"),
        (r#"vany_drops_total{reason=~"peer_.*"}"#, "not a value"),
        (
            r#"vany_drops_total{outcome="committed"}"#,
            "no label outcome",
        ),
        ("vany_handoff_duration_seconds_sum{le=\"1\"}", "no label le"),
        ("sum by (reason) (vany_sessions)", "groups by reason"),
        ("time()", "no vany metric"),
    ];
    for (expr, why) in wrong {
        let e = check_expr(expr, &docs).expect_err(expr);
        assert!(e.contains(why), "{expr}: {e}");
    }
}
