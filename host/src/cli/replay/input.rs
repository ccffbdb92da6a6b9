//! What `sluice replay` reads: the messages (files and directories of `.eml`), each one's
//! optional envelope sidecar (`FILE.eml.json`), and the labels file.

use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The `.eml` files named, and those under the directories named (recursively, in name
/// order), each once.
pub fn messages(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", input.display()))?;
        if meta.is_dir() {
            walk(input, &mut out)?;
        } else {
            out.push(input.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    anyhow::ensure!(!out.is_empty(), "no .eml files in {}", list(inputs));
    Ok(out)
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("eml"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// A message's envelope, as `sluice capture` writes it next to the message
/// (`FILE.eml.json`). Every field is optional; what is missing comes from the message's
/// headers (From, To, Cc) or defaults (127.0.0.1, EHLO `replay.local`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub from: Option<String>,
    pub to: Option<OneOrMany>,
    pub tenant: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub helo: Option<String>,
    pub auth_user: Option<String>,
    pub tls: Option<String>,
    /// Written by capture: the queue id the message had, which replay keeps (plugins log it).
    pub queue_id: Option<String>,
    /// Written by capture (Unix seconds), for the operator; replay does not use it.
    #[serde(rename = "received_at")]
    pub _received_at: Option<u64>,
}

/// `"to": "a@x"` or `"to": ["a@x", "b@y"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// The sidecar of `eml`, if there is one; a sidecar that does not parse is an error that
/// names the file, the line and the field.
pub fn sidecar(eml: &Path) -> Result<Option<Sidecar>, String> {
    let mut path = eml.as_os_str().to_owned();
    path.push(".json");
    let path = PathBuf::from(path);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("envelope {}: {e}", path.display()))
}

/// The addresses of the From header (the envelope sender when there is no sidecar) and of
/// To and Cc (the recipients).
pub fn header_addresses(raw: &[u8]) -> (Option<String>, Vec<String>) {
    let Some(m) = mail_parser::MessageParser::default().parse_headers(raw) else {
        return (None, Vec::new());
    };
    let first = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned)
    };
    let mut to = Vec::new();
    for list in [m.to(), m.cc()].into_iter().flatten() {
        to.extend(list.iter().filter_map(|a| a.address()).map(str::to_owned));
    }
    (first(m.from()), to)
}

/// How a message is labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Marketing,
    Transactional,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Marketing => "marketing",
            Label::Transactional => "transactional",
        }
    }
}

/// A labels file: CSV rows `file,marketing|transactional` (a `file,label` header row is
/// allowed). A row's file names a message by the end of its path: `x.eml` matches every
/// `…/x.eml`, `train/x.eml` only those under a `train` directory; the longest match wins.
pub struct Labels {
    rows: Vec<(Vec<String>, Label)>,
}

impl Labels {
    pub fn load(path: &Path) -> anyhow::Result<Labels> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_path(path)
            .map_err(|e| anyhow::anyhow!("cannot read labels {}: {e}", path.display()))?;
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let where_ = |e: &dyn std::fmt::Display| format!("labels {}: {e}", path.display());
            let record = record.map_err(|e| anyhow::anyhow!(where_(&e)))?;
            let line = record.position().map_or(i as u64 + 1, |p| p.line());
            let (Some(file), Some(label), None) = (record.get(0), record.get(1), record.get(2))
            else {
                anyhow::bail!(
                    "labels {} line {line}: expected `file,marketing|transactional`",
                    path.display()
                );
            };
            let label = match label.to_ascii_lowercase().as_str() {
                "marketing" => Label::Marketing,
                "transactional" => Label::Transactional,
                "label" if i == 0 => continue,
                other => anyhow::bail!(
                    "labels {} line {line}: label {other:?} is neither marketing nor transactional",
                    path.display()
                ),
            };
            rows.push((components(Path::new(file)), label));
        }
        anyhow::ensure!(!rows.is_empty(), "labels {}: no rows", path.display());
        Ok(Labels { rows })
    }

    pub fn get(&self, message: &Path) -> Option<Label> {
        let have = components(message);
        self.rows
            .iter()
            .filter(|(want, _)| have.ends_with(want))
            .max_by_key(|(want, _)| want.len())
            .map(|(_, label)| *label)
    }
}

fn components(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_by_the_end_of_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        std::fs::write(
            &path,
            "file,label\n# a comment\nx.eml,marketing\ntrain/x.eml,transactional\n\"y, z.eml\",Marketing\n",
        )
        .unwrap();
        let labels = Labels::load(&path).unwrap();
        assert_eq!(
            labels.get(Path::new("c/train/x.eml")),
            Some(Label::Transactional)
        );
        assert_eq!(
            labels.get(Path::new("c/heldout/x.eml")),
            Some(Label::Marketing)
        );
        assert_eq!(labels.get(Path::new("y, z.eml")), Some(Label::Marketing));
        assert_eq!(labels.get(Path::new("w.eml")), None);
        std::fs::write(&path, "x.eml,spam\n").unwrap();
        let e = Labels::load(&path).err().unwrap().to_string();
        assert!(e.contains("line 1") && e.contains("\"spam\""), "{e}");
        std::fs::write(&path, "x.eml\n").unwrap();
        let e = Labels::load(&path).err().unwrap().to_string();
        assert!(e.contains("expected `file,marketing|transactional`"), "{e}");
    }

    #[test]
    fn a_sidecar_names_its_file_and_field_when_it_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let eml = dir.path().join("m.eml");
        assert!(sidecar(&eml).unwrap().is_none());
        std::fs::write(
            dir.path().join("m.eml.json"),
            r#"{"to": "a@b.test", "tennant": "t"}"#,
        )
        .unwrap();
        let e = sidecar(&eml).unwrap_err();
        assert!(e.contains("m.eml.json") && e.contains("tennant"), "{e}");
        std::fs::write(
            dir.path().join("m.eml.json"),
            r#"{"to": ["a@b.test", "c@d.test"], "client_ip": "192.0.2.1"}"#,
        )
        .unwrap();
        let s = sidecar(&eml).unwrap().unwrap();
        assert_eq!(s.to.unwrap().into_vec().len(), 2);
    }
}
