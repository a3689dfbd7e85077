//! docs/configuration.md is checked against the configuration structs: every variable its
//! service tables name is a setting of that service, and its documented default is accepted
//! as that setting's value; every top-level section of a service is documented.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use df_common::config::{ConfigError, Extract, Sources, Validate, load_from};

const REFERENCE: &str = include_str!("../../../docs/configuration.md");

/// The rows of the table under `## <heading>`: (variable, documented default). A row may name
/// several variables of one section: `` `DF_A__B__C`, `…__D` `` is `DF_A__B__C` and `DF_A__B__D`.
fn rows(heading: &str) -> Vec<(String, String)> {
    let section = REFERENCE
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/configuration.md has no section {heading}"));
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let names = cells.get(1)?.strip_prefix("`DF_")?.strip_suffix('`')?;
            let default = (*cells.get(2)?).to_owned();
            let mut names = names.split("`, `");
            let first = format!("DF_{}", names.next()?);
            let section = first
                .rsplit_once("__")
                .map_or("", |(section, _)| section)
                .to_owned();
            let more = names.map(move |name| name.replacen('…', &section, 1));
            Some(
                std::iter::once(first)
                    .chain(more)
                    .map(move |variable| (variable, default.clone()))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// The documented default as a value to set, when it is one (not "unset" or "none").
fn literal(default: &str) -> Option<&str> {
    default.strip_prefix('`')?.strip_suffix('`')
}

fn load<T: Extract + Validate>(variable: &str, value: &str) -> Result<T, ConfigError> {
    load_from::<T>(&Sources {
        env: vec![(variable.to_owned(), value.to_owned())],
        ..Sources::default()
    })
}

/// Problems that say the variable is not a setting, or its documented default does not fit.
fn problems_with<T: Extract + Validate>(heading: &str) -> (Vec<String>, BTreeSet<String>) {
    let mut problems = Vec::new();
    let mut sections = BTreeSet::new();
    let rows = rows(heading);
    assert!(rows.len() > 10, "{heading}: the table was not found");
    for (variable, default) in rows {
        // A placeholder such as `DF_TAX__ENCRYPTION__KEYS__<ID>` stands for any id.
        let variable = variable.replace("<ID>", "K1");
        let setting = variable
            .trim_start_matches("DF_")
            .to_ascii_lowercase()
            .replace("__", ".");
        sections.insert(setting.split('.').next().unwrap_or_default().to_owned());
        let value = literal(&default).unwrap_or("x");
        if let Err(error) = load::<T>(&variable, value) {
            problems.extend(
                error
                    .problems
                    .into_iter()
                    .filter(|p| {
                        p.contains("unknown setting")
                            || (literal(&default).is_some()
                                && p.starts_with(&format!("{setting}: expected")))
                    })
                    .map(|p| format!("{variable} = {value}: {p}")),
            );
        }
    }
    (problems, sections)
}

fn check<T: Extract + Validate>(heading: &str, own_sections: &[&str]) {
    let (problems, documented) = problems_with::<T>(heading);
    assert_eq!(
        problems,
        Vec::<String>::new(),
        "{heading} drifted from the code"
    );
    for section in own_sections {
        assert!(
            documented.contains(*section),
            "{heading}: the section `{section}` is not documented"
        );
    }
}

#[test]
fn identity_settings_are_documented_as_they_are() {
    let sections: Vec<&str> = df_runtime::service_config::BASE_SECTIONS
        .iter()
        .copied()
        .chain(["mail", "breached_passwords", "identity"])
        .collect();
    check::<df_identity::IdentityConfig>("Identity settings", &sections);
}

#[test]
fn payments_settings_are_documented_as_they_are() {
    check::<df_payments::PaymentsConfig>(
        "Payments settings",
        &["checkout", "provider", "webhooks", "policy", "tax"],
    );
}

#[test]
fn media_settings_are_documented_as_they_are() {
    check::<df_media::MediaConfig>("Media settings", &["feed", "payments", "internal_auth"]);
}

#[test]
fn gateway_settings_are_documented_as_they_are() {
    check::<df_gateway::GatewayConfig>(
        "Gateway settings",
        &[
            "production",
            "http",
            "admin",
            "redis",
            "telemetry",
            "internal_auth",
            "upstreams",
            "security",
        ],
    );
}

#[test]
fn a_misspelt_variable_would_be_caught() {
    let problems = load::<df_payments::PaymentsConfig>("DF_POLICY__HOLD_DAY", "7")
        .unwrap_err()
        .problems;
    assert!(problems.iter().any(|p| p.contains("unknown setting")));
}
