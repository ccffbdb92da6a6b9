//! A suppression list as CSV (RFC 4180, read and written by the `csv` crate).
//!
//! Export writes a header line and one row per entry:
//! `address,reason,created_at,expires_at,detail`, times in RFC 3339. Import takes the same
//! (what an export wrote goes back in as it was), or only the first columns
//! (`address,reason,created_at`), with or without the header line; a header may put the
//! columns in any order. An empty reason is `manual`, an empty `created_at` is now; times
//! are RFC 3339 or seconds since the epoch. A file with any bad row is refused whole, with
//! the line and what is wrong for each (the first [`MAX_ERRORS`]).

use super::{address, parse_time, rfc3339, Entry, Reason, MAX_DETAIL};

/// The columns an export writes, in order.
pub const COLUMNS: [&str; 5] = ["address", "reason", "created_at", "expires_at", "detail"];
/// The most row errors an import reports.
pub const MAX_ERRORS: usize = 20;

/// A bad row of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line of the file.
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// `entries` as CSV with a header line.
pub fn export<'e>(entries: impl IntoIterator<Item = &'e Entry>) -> Vec<u8> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(COLUMNS);
    for e in entries {
        let _ = w.write_record([
            e.address.as_str(),
            e.reason.name(),
            &rfc3339(e.created_at),
            &e.expires_at.map(rfc3339).unwrap_or_default(),
            e.detail.as_deref().unwrap_or(""),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

/// Reads an import: every entry, or every bad row (and nothing else) when there is one. More
/// than `max_rows` rows is an error of its own.
pub fn import(bytes: &[u8], now: u64, max_rows: usize) -> Result<Vec<Entry>, Vec<RowError>> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(bytes);
    let mut columns: Vec<usize> = (0..COLUMNS.len()).collect();
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    message: e.to_string(),
                });
                if e.is_io_error() || errors.len() >= MAX_ERRORS {
                    break;
                }
                continue;
            }
        };
        let line = record.position().map_or(i as u64 + 1, |p| p.line());
        let named = |f: &str| COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(f));
        if i == 0 && record.get(0).is_some_and(named) {
            match header(&record) {
                Ok(c) => columns = c,
                Err(message) => {
                    return Err(vec![RowError { line, message }]);
                }
            }
            continue;
        }
        if entries.len() >= max_rows {
            errors.push(RowError {
                line,
                message: format!(
                    "more than {max_rows} rows: the list holds at most that many ([suppressions] max_per_tenant)"
                ),
            });
            break;
        }
        match row(&record, &columns, now) {
            Ok(e) => entries.push(e),
            Err(message) => {
                errors.push(RowError { line, message });
                if errors.len() >= MAX_ERRORS {
                    break;
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

/// The position of each of [`COLUMNS`] (`usize::MAX`: absent) from a header line.
fn header(record: &::csv::StringRecord) -> Result<Vec<usize>, String> {
    let mut columns = vec![usize::MAX; COLUMNS.len()];
    for (at, name) in record.iter().enumerate() {
        let Some(which) = COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) else {
            return Err(format!(
                "unknown column {name:?} in the header (columns: {})",
                COLUMNS.join(", ")
            ));
        };
        columns[which] = at;
    }
    if columns[0] == usize::MAX {
        return Err("the header has no address column".into());
    }
    Ok(columns)
}

fn row(record: &::csv::StringRecord, columns: &[usize], now: u64) -> Result<Entry, String> {
    let field = |i: usize| record.get(columns[i]).unwrap_or("");
    if record.len() > COLUMNS.len() {
        return Err(format!(
            "{} fields; at most {} ({})",
            record.len(),
            COLUMNS.len(),
            COLUMNS.join(", ")
        ));
    }
    let address = address::normalize(field(0)).map_err(|e| e.to_string())?;
    let reason = match field(1) {
        "" => Reason::Manual,
        r => Reason::parse(r).ok_or_else(|| {
            format!(
                "unknown reason {r:?} (one of {})",
                Reason::ALL.map(Reason::name).join(", ")
            )
        })?,
    };
    let time = |i: usize| -> Result<Option<u64>, String> {
        match field(i) {
            "" => Ok(None),
            t => parse_time(t).map(Some).ok_or_else(|| {
                format!(
                    "{}: {t:?} is not an RFC 3339 time (or seconds since the epoch)",
                    COLUMNS[i]
                )
            }),
        }
    };
    let created_at = time(2)?.unwrap_or(now);
    let expires_at = time(3)?;
    let detail = Some(field(4))
        .filter(|d| !d.is_empty())
        .map(|d| super::clip(d, MAX_DETAIL));
    Ok(Entry {
        address,
        reason,
        created_at,
        expires_at,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_imports_back_as_it_was() {
        let entries = vec![
            Entry {
                address: "\"a,b\"@x.test".into(),
                reason: Reason::HardBounce,
                created_at: 1_700_000_000,
                expires_at: None,
                detail: Some("550 5.1.1 \"no\" such user".into()),
            },
            Entry {
                address: "c@x.test".into(),
                reason: Reason::Unsubscribe,
                created_at: 1_700_000_001,
                expires_at: Some(1_800_000_000),
                detail: None,
            },
        ];
        let csv = export(&entries);
        assert!(csv.starts_with(b"address,reason,created_at,expires_at,detail\n"));
        assert_eq!(import(&csv, 0, 10).unwrap(), entries);
    }

    #[test]
    fn short_rows_with_or_without_a_header() {
        let now = 42;
        let got = import(
            b"A@X.test,complaint,2023-11-14T22:13:20Z\nb@x.test\n",
            now,
            10,
        )
        .unwrap();
        assert_eq!(got[0].address, "A@x.test");
        assert_eq!(got[0].reason, Reason::Complaint);
        assert_eq!(got[0].created_at, 1_700_000_000);
        assert_eq!(got[1].reason, Reason::Manual);
        assert_eq!(got[1].created_at, now);
        let got = import(b"reason,address\r\nmanual,c@x.test\r\n", now, 10).unwrap();
        assert_eq!(got[0].address, "c@x.test");
        let got = import(b"address,reason\r\nc@x.test,unsubscribe\r\n", now, 10).unwrap();
        assert_eq!(got[0].reason, Reason::Unsubscribe);
    }

    #[test]
    fn every_bad_row_is_named_and_nothing_is_taken() {
        let csv = b"address,reason,created_at\nok@x.test,manual,\nnot-an-address,manual,\nb@x.test,spam,\nc@x.test,manual,last tuesday\n";
        let errors = import(csv, 0, 10).unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5], "{errors:?}");
        assert!(errors[0].message.contains("not a mailbox"), "{errors:?}");
        assert!(
            errors[1].message.contains("unknown reason \"spam\""),
            "{errors:?}"
        );
        assert!(errors[2].message.contains("created_at"), "{errors:?}");
        let errors = import(b"address,colour\na@x.test,red\n", 0, 10).unwrap_err();
        assert!(errors[0].message.contains("unknown column \"colour\""));
        let errors = import(b"a@x.test\nb@x.test\nc@x.test\n", 0, 2).unwrap_err();
        assert_eq!(errors[0].line, 3);
    }
}
