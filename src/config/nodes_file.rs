//! `nodes_file = "nodes.csv"`: nodes listed in a CSV file, as exported from a
//! spreadsheet or an inventory, merged after the `[[node]]` tables.
//!
//! The first line is a header naming the columns: `name` and `host` are
//! required, `port`, `group`, `mode` and `shard` are optional, any other column
//! is ignored (an inventory export has plenty). Header names are matched without
//! regard to case or surrounding spaces; an empty cell takes the default as a
//! missing key does. Lines starting with `#`, and rows with every cell empty (as
//! spreadsheets leave at the end), are skipped. Errors name the file,
//! the line and the column number: `nodes.csv:3:2: host: ...`.

use std::io::Read;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::error::{ConfigError, Cx};
use super::node::{At, Origin, Place, Written};
use super::raw::RawPort;

/// The largest nodes file read. A row of an inventory export is some 70 bytes
/// (name, IP, group, a few ignored columns), so [`MAX_ROWS`] rows fit several
/// times over; the cap is there so that a wrong path (a log, a disk image) is
/// refused rather than loaded into memory.
const MAX_BYTES: u64 = 32 << 20;

/// The most data rows a nodes file may have: the fleet scale the monitor is
/// built for, each row one node (a row with a range gives more, up to the
/// per-range limit).
const MAX_ROWS: usize = 100_000;

/// Reads all of `from` if it holds at most `cap` bytes; `None` if it holds more.
fn read_at_most(from: impl Read, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    from.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((u64::try_from(bytes.len()).unwrap_or(u64::MAX) <= cap).then_some(bytes))
}

/// The nodes file, read.
pub(super) struct NodesFile {
    /// The path as messages show it: joined to the fleet file's directory.
    pub(super) label: String,
    text: String,
}

impl Cx<'_> {
    /// Reads the file `nodes_file` names, relative to `dir` (the fleet file's
    /// directory; `None`: the working directory). A file that cannot be read is
    /// an error at the key.
    pub(super) fn nodes_file(
        &self,
        v: Option<&Spanned<String>>,
        dir: Option<&Path>,
    ) -> Result<Option<NodesFile>, ConfigError> {
        let Some(p) = v else { return Ok(None) };
        let written = p.get_ref();
        if written.trim().is_empty() {
            return Err(self.err(p.span(), "nodes_file", "must not be empty"));
        }
        let path = match dir {
            Some(d) if Path::new(written).is_relative() => d.join(written),
            _ => PathBuf::from(written),
        };
        let label = path.display().to_string();
        let cannot = |e: std::io::Error| {
            self.err(p.span(), "nodes_file", format!("cannot read {label}: {e}"))
        };
        let too_big = |size: String| {
            self.err(
                p.span(),
                "nodes_file",
                format!(
                    "{label} is {size}; a nodes file may be at most {MAX_BYTES} bytes ({} MiB)",
                    MAX_BYTES >> 20
                ),
            )
        };
        let file = std::fs::File::open(&path).map_err(cannot)?;
        // The size is checked before reading, so a huge file is refused at once,
        // and the read itself stops past the cap, for a file that grows meanwhile
        // or reports no size (a pipe, a device).
        let size = file.metadata().map_err(cannot)?.len();
        if size > MAX_BYTES {
            return Err(too_big(format!("{size} bytes")));
        }
        let bytes = read_at_most(file, MAX_BYTES)
            .map_err(cannot)?
            .ok_or_else(|| too_big(format!("more than {MAX_BYTES} bytes")))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            self.err(
                p.span(),
                "nodes_file",
                format!("{label} is not UTF-8 text (save it as CSV UTF-8)"),
            )
        })?;
        Ok(Some(NodesFile { label, text }))
    }
}

/// Which column (0-based) holds each field.
#[derive(Default)]
struct Columns {
    name: Option<usize>,
    host: Option<usize>,
    port: Option<usize>,
    group: Option<usize>,
    mode: Option<usize>,
    shard: Option<usize>,
}

impl NodesFile {
    /// The data rows, in file order. An empty file has none.
    pub(super) fn rows(&self) -> Result<Vec<Written<'_>>, ConfigError> {
        let file = self.label.as_str();
        // Spreadsheets like to write a byte-order mark.
        let text = self.text.strip_prefix('\u{feff}').unwrap_or(&self.text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        // Comments are skipped here rather than by the reader, whose positions
        // would leave their lines out of the count.
        let mut records = reader.records().filter(|r| {
            r.as_ref().map_or(true, |r| {
                let first = r.get(0).unwrap_or("");
                !first.starts_with('#') && !r.iter().all(str::is_empty)
            })
        });
        let mut lines = Lines::new(text);
        let Some(header) = records.next() else {
            return Ok(Vec::new());
        };
        let header = header.map_err(|e| csv_error(file, &mut lines, &e))?;
        let columns = header_columns(file, lines.line_of(header.position()), &header)?;
        let mut rows = Vec::new();
        for record in records {
            let record = record.map_err(|e| csv_error(file, &mut lines, &e))?;
            let line = lines.line_of(record.position());
            if rows.len() == MAX_ROWS {
                return Err(cell_error(
                    file,
                    line,
                    1,
                    "csv",
                    format!(
                        "more than {MAX_ROWS} rows: a nodes file may list at most {MAX_ROWS} (a row with a range such as wall-{{01..32}} stands for many nodes)"
                    ),
                ));
            }
            rows.push(row(file, line, &columns, &record)?);
        }
        Ok(rows)
    }
}

/// Turns the reader's byte positions into 1-based line numbers. Records come in
/// file order, so each lookup counts only the newlines since the previous one,
/// and reading a file takes time in proportion to its size.
struct Lines<'t> {
    text: &'t [u8],
    /// Where the previous lookup stopped, and the line that byte is on.
    offset: usize,
    line: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        Lines {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    /// The line a record starts on. The reader's position is where the previous
    /// record ended, before any blank lines (and the `\n` of a `\r\n`), so those
    /// are stepped over; its own line count leaves out blank lines.
    fn line_of(&mut self, position: Option<&csv::Position>) -> usize {
        let bytes = self.text;
        let mut at = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        at = at.min(bytes.len());
        while bytes.get(at).is_some_and(|b| *b == b'\r' || *b == b'\n') {
            at += 1;
        }
        if at < self.offset {
            // Behind the previous lookup (not met in practice: positions only
            // grow): count from the start rather than give a wrong line.
            self.offset = 0;
            self.line = 1;
        }
        self.line += bytes[self.offset..at]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.offset = at;
        self.line
    }
}

fn cell_error(file: &str, line: usize, column: usize, key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: file.to_owned(),
        line,
        column,
        key: key.to_owned(),
        message,
    }
}

fn csv_error(file: &str, lines: &mut Lines<'_>, e: &csv::Error) -> ConfigError {
    cell_error(file, lines.line_of(e.position()), 1, "csv", e.to_string())
}

fn header_columns(
    file: &str,
    line: usize,
    header: &csv::StringRecord,
) -> Result<Columns, ConfigError> {
    let mut c = Columns::default();
    for (j, h) in header.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        let slot = match h.as_str() {
            "name" => &mut c.name,
            "host" => &mut c.host,
            "port" => &mut c.port,
            "group" => &mut c.group,
            "mode" => &mut c.mode,
            "shard" => &mut c.shard,
            _ => continue,
        };
        if let Some(first) = *slot {
            return Err(cell_error(
                file,
                line,
                j + 1,
                &h,
                format!(
                    "column {h:?} appears twice (columns {} and {})",
                    first + 1,
                    j + 1
                ),
            ));
        }
        *slot = Some(j);
    }
    for (field, found) in [("name", c.name), ("host", c.host)] {
        if found.is_none() {
            let first_line: Vec<&str> = header.iter().collect();
            return Err(cell_error(
                file,
                line,
                1,
                field,
                format!(
                    "no {field:?} column: the first line must be a header such as name,host,port,group,mode (found {:?})",
                    first_line.join(",")
                ),
            ));
        }
    }
    Ok(c)
}

fn row<'a>(
    file: &'a str,
    line: usize,
    columns: &Columns,
    record: &csv::StringRecord,
) -> Result<Written<'a>, ConfigError> {
    let at = |j: usize| {
        let value = record.get(j).unwrap_or("").trim().to_owned();
        At {
            value,
            place: Place::Cell {
                file,
                line,
                column: j + 1,
            },
        }
    };
    // An empty optional cell is a key left out.
    let optional = |j: Option<usize>| j.map(at).filter(|a| !a.value.is_empty());
    let shard = match columns.shard.map(|j| (j, at(j))) {
        Some((j, a)) if !a.value.is_empty() => match a.value.parse::<i64>() {
            Ok(k) => Some(At {
                value: k,
                place: a.place,
            }),
            Err(_) => {
                return Err(cell_error(
                    file,
                    line,
                    j + 1,
                    "shard",
                    format!("expected a whole number, got {:?}", a.value),
                ));
            }
        },
        _ => None,
    };
    Ok(Written {
        origin: Origin::Row { file, line },
        place: Place::Cell {
            file,
            line,
            column: 1,
        },
        name: columns.name.map(at),
        host: columns.host.map(at),
        port: optional(columns.port).map(|a| At {
            value: RawPort::Text(a.value),
            place: a.place,
        }),
        group: optional(columns.group),
        mode: optional(columns.mode),
        shard,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, Mode};

    /// Writes `fleet.toml` and, if given, `nodes.csv` into a new directory.
    fn fleet(toml: &str, csv: Option<&[u8]>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("fleet.toml"), toml).expect("write fleet");
        if let Some(csv) = csv {
            std::fs::write(dir.path().join("nodes.csv"), csv).expect("write csv");
        }
        dir
    }

    fn load(dir: &Path) -> Result<Config, String> {
        Config::load(&dir.join("fleet.toml")).map_err(|e| e.to_string())
    }

    const TOP: &str = "nodes_file = \"nodes.csv\"\n";

    #[test]
    fn rows_follow_the_tables_and_take_the_defaults() {
        let csv = "\u{feff} Name ,HOST,Port, group ,mode,rack,Shard\n\
                   # a comment line\n\
                   b,10.0.0.2,,wall-B,,r1,\n\
                   \n\
                   c,10.0.0.3,9001,,push,r2,2\n\
                   d{1..3},10.0.1.{1..3},{7001..7003},wall-D\n\
                   ,,,,,,\n";
        let dir = fleet(
            &format!("{TOP}[defaults]\nport = 9000\n[[node]]\nname = \"a\"\nhost = \"10.0.0.1\"\n"),
            Some(csv.as_bytes()),
        );
        let c = load(dir.path()).expect("valid");
        let got: Vec<_> = c
            .nodes
            .iter()
            .map(|n| {
                (
                    n.name.as_str(),
                    n.host.as_str(),
                    n.port,
                    n.group.as_deref(),
                    n.mode,
                    n.shard,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", "10.0.0.1", 9000, None, Mode::Poll, None),
                ("b", "10.0.0.2", 9000, Some("wall-B"), Mode::Poll, None),
                ("c", "10.0.0.3", 9001, None, Mode::Push, Some(2)),
                ("d1", "10.0.1.1", 7001, Some("wall-D"), Mode::Poll, None),
                ("d2", "10.0.1.2", 7002, Some("wall-D"), Mode::Poll, None),
                ("d3", "10.0.1.3", 7003, Some("wall-D"), Mode::Poll, None),
            ]
        );
        assert_eq!(c.nodes[1].interval, c.defaults.interval);
        // A push row turns the receiver on, as a push table does.
        assert!(c.listen.is_some());
    }

    #[test]
    fn a_file_of_rows_alone_is_a_fleet_and_an_empty_one_beside_tables_is_fine() {
        let dir = fleet(TOP, Some(b"name,host\nx,h1\n"));
        assert_eq!(load(dir.path()).expect("valid").nodes.len(), 1);
        let dir = fleet(
            &format!("{TOP}[[node]]\nname = \"a\"\nhost = \"h\"\n"),
            Some(b"name,host\n"),
        );
        assert_eq!(load(dir.path()).expect("valid").nodes.len(), 1);
        let dir = fleet(
            &format!("{TOP}[[node]]\nname = \"a\"\nhost = \"h\"\n"),
            Some(b""),
        );
        assert_eq!(load(dir.path()).expect("valid").nodes.len(), 1);
    }

    #[test]
    fn parse_reads_the_file_from_the_path_as_given() {
        let dir = fleet("", Some(b"name,host\nx,h1\n"));
        let csv = dir.path().join("nodes.csv");
        let text = format!("nodes_file = {:?}\n", csv.display().to_string());
        let c = Config::parse(&text, "fleet.toml").expect("valid");
        assert_eq!(c.nodes[0].name, "x");
    }

    #[test]
    fn csv_errors_name_the_line_and_column() {
        let one_table = "nodes_file = \"nodes.csv\"\n[[node]]\nname = \"a\"\nhost = \"10.0.0.1\"\nmode = \"push\"\n";
        let cases: &[(&str, &[u8], &str)] = &[
            (
                TOP,
                b"host,port\nh,1\n",
                "{csv}:1:1: name: no \"name\" column: the first line must be a header such as name,host,port,group,mode (found \"host,port\")",
            ),
            (
                TOP,
                b"wall-01,192.168.0.1\n",
                "{csv}:1:1: name: no \"name\" column: the first line must be a header such as name,host,port,group,mode (found \"wall-01,192.168.0.1\")",
            ),
            (
                TOP,
                b"name,host,Name\n",
                "{csv}:1:3: name: column \"name\" appears twice (columns 1 and 3)",
            ),
            (
                TOP,
                b"name,host\nb,h\n,h2\n",
                "{csv}:3:1: name: must not be empty",
            ),
            (
                TOP,
                b"name,host\nb,h\nc,bad host\n",
                "{csv}:3:2: host: \"bad host\" is not a host name or IP address",
            ),
            (
                TOP,
                b"name,host\n# a comment\nb,bad host\n",
                "{csv}:3:2: host: \"bad host\" is not a host name or IP address",
            ),
            (
                TOP,
                b"# exported 2026-01-01\n\nname,host\r\n\r\n\"a\nb\",h\r\n\"c\",bad host\r\n",
                "{csv}:7:2: host: \"bad host\" is not a host name or IP address",
            ),
            (
                TOP,
                b"name,host\nb,h\nc\n",
                "{csv}:3:2: host: must not be empty",
            ),
            (
                TOP,
                b"name,host,port\nb,h,0\n",
                "{csv}:2:3: port: port must be between 1 and 65535, got 0",
            ),
            (
                TOP,
                b"name,host,port\nb,h,http\n",
                "{csv}:2:3: port: \"http\" is not a port: write a number such as 8080, or a range such as {8080..8111}",
            ),
            (
                TOP,
                b"name,host,x,mode\nb,h,,Pull\n",
                "{csv}:2:4: mode: expected \"poll\" or \"push\", got \"Pull\"",
            ),
            (
                TOP,
                b"name,host,shard\nb,h,two\n",
                "{csv}:2:3: shard: expected a whole number, got \"two\"",
            ),
            (
                TOP,
                b"name,host,shard\nb,h,0\n",
                "{csv}:2:3: shard: must be at least 1 (shards are numbered from 1), got 0",
            ),
            (
                "nodes_file = \"nodes.csv\"\n[shard]\nindex = 1\ncount = 2\n",
                b"name,host,shard\nb,h,3\n",
                "{csv}:2:3: shard: shard 3 does not exist: [shard] count is 2, so shards are numbered 1 to 2",
            ),
            (
                TOP,
                b"name,host\nb{1..3},h{1..2}\n",
                "{csv}:2:2: host: range {1..2} gives 2 values but name's range {1..3} gives 3; the ranges of one row are expanded together, so they must give as many values",
            ),
            (
                TOP,
                b"name,host\nb,h\nb,h\n",
                "{csv}:3:1: name: duplicate name \"b\" (first used by {csv} line 2)",
            ),
            (
                one_table,
                b"name,host\nb,h\na,h\n",
                "{csv}:3:1: name: duplicate name \"a\" (first used by node[0] at line 2)",
            ),
            (
                one_table,
                b"name,host,mode\nb,10.0.0.1,push\n",
                "{csv}:2:2: host: 10.0.0.1 is already the host of push node node[0] (\"a\"); their lines could not be told apart",
            ),
            (
                TOP,
                b"name,host,mode\nb,10.0.0.1,push\nc,10.0.0.1,push\n",
                "{csv}:3:2: host: 10.0.0.1 is already the host of push node \"b\" ({csv} line 2); their lines could not be told apart",
            ),
            (
                TOP,
                b"name,host,mode\nb,printer.example,push\n",
                "{csv}:2:2: host: push nodes are matched by the IP they write in their lines, so host must be an IP address, got \"printer.example\"",
            ),
            (
                TOP,
                b"name,host\nb,10.0.0.{255..256}\n",
                "{csv}:2:1: name: duplicate name \"b\": this row's ranges give it more than once (put a range in name too)",
            ),
            (
                TOP,
                b"name,host\nb{1..2},10.0.0.{255..256}\n",
                "{csv}:2:2: host: range {255..256} gives 10.0.0.256, which is not a valid IP address",
            ),
            (
                TOP,
                b"name,host\n",
                "{fleet}:2:1: node: no nodes: add at least one [[node]] table with name and host or a row to {csv}",
            ),
            (
                TOP,
                b"name,host\nb,\xff\n",
                "{fleet}:1:14: nodes_file: {csv} is not UTF-8 text (save it as CSV UTF-8)",
            ),
        ];
        for (toml, csv, want) in cases {
            let dir = fleet(toml, Some(csv));
            let want = want
                .replace("{csv}", &dir.path().join("nodes.csv").display().to_string())
                .replace(
                    "{fleet}",
                    &dir.path().join("fleet.toml").display().to_string(),
                );
            assert_eq!(load(dir.path()).expect_err(&want), want);
        }
    }

    /// Line numbers come from a cursor carried from record to record: a bad
    /// row far down a file, past blank lines, comments, `\r\n` endings and
    /// quoted cells spanning lines, is named by its own line.
    #[test]
    fn a_bad_row_deep_in_a_long_file_is_named_by_its_line() {
        let mut csv = String::from("# inventory\n\nname,host,notes\r\n");
        let mut line = 4; // the line the next row starts on
        for k in 0..3000 {
            match k % 4 {
                0 => {
                    csv.push_str(&format!("n{k},h{k},\"two\nlines\"\n"));
                    line += 2;
                }
                1 => {
                    csv.push_str(&format!("\r\n# note\r\nn{k},h{k},\r\n"));
                    line += 3;
                }
                2 => {
                    csv.push_str(&format!("n{k},h{k},,\n\n\n"));
                    line += 3;
                }
                _ => {
                    csv.push_str(&format!(",,\nn{k},h{k}\n"));
                    line += 2;
                }
            }
        }
        csv.push_str("bad,bad host,\n");
        let dir = fleet(TOP, Some(csv.as_bytes()));
        let csv_path = dir.path().join("nodes.csv");
        assert_eq!(
            load(dir.path()).expect_err("bad host"),
            format!(
                "{}:{line}:2: host: \"bad host\" is not a host name or IP address",
                csv_path.display()
            )
        );
    }

    #[test]
    fn a_nodes_file_over_the_size_cap_is_refused_at_the_key() {
        let dir = fleet(TOP, None);
        let csv_path = dir.path().join("nodes.csv");
        // Sparse: no disk is used, and the size check comes before any read.
        let f = std::fs::File::create(&csv_path).expect("create");
        f.set_len(super::MAX_BYTES + 1).expect("set_len");
        assert_eq!(
            load(dir.path()).expect_err("too big"),
            format!(
                "{}:1:14: nodes_file: {} is {} bytes; a nodes file may be at most {} bytes (32 MiB)",
                dir.path().join("fleet.toml").display(),
                csv_path.display(),
                super::MAX_BYTES + 1,
                super::MAX_BYTES
            )
        );
    }

    /// A device reports no size: the bounded read is what stops it.
    #[cfg(unix)]
    #[test]
    fn an_endless_nodes_file_stops_at_the_cap() {
        let dir = fleet("nodes_file = \"/dev/zero\"\n", None);
        assert_eq!(
            load(dir.path()).expect_err("endless"),
            format!(
                "{}:1:14: nodes_file: /dev/zero is more than {} bytes; a nodes file may be at most {} bytes (32 MiB)",
                dir.path().join("fleet.toml").display(),
                super::MAX_BYTES,
                super::MAX_BYTES
            )
        );
    }

    #[test]
    fn the_bounded_read_takes_up_to_the_cap_and_no_more() {
        let data = [b'x'; 10];
        assert_eq!(
            super::read_at_most(&data[..], 10).expect("read"),
            Some(data.to_vec())
        );
        assert_eq!(super::read_at_most(&data[..], 9).expect("read"), None);
        assert_eq!(
            super::read_at_most(&b""[..], 0).expect("read"),
            Some(Vec::new())
        );
    }

    #[test]
    fn rows_past_the_row_cap_are_refused_at_the_first_one_over() {
        let mut csv = String::from("name,host\n");
        for k in 0..=super::MAX_ROWS {
            csv.push_str(&format!("n{k},h\n"));
        }
        let dir = fleet(TOP, Some(csv.as_bytes()));
        // The header is line 1, so row MAX_ROWS + 1 is on line MAX_ROWS + 2.
        let max = super::MAX_ROWS;
        assert_eq!(
            load(dir.path()).expect_err("too many rows"),
            format!(
                "{}:{}:1: csv: more than {max} rows: a nodes file may list at most {max} (a row with a range such as wall-{{01..32}} stands for many nodes)",
                dir.path().join("nodes.csv").display(),
                max + 2
            )
        );
        // At the cap, every row is a node.
        let at_cap = csv
            .rsplit_once(&format!("n{max},h\n"))
            .map(|(head, _)| head);
        std::fs::write(dir.path().join("nodes.csv"), at_cap.expect("the last row"))
            .expect("write csv");
        assert_eq!(load(dir.path()).expect("at the cap").nodes.len(), max);
    }

    #[test]
    fn a_missing_or_empty_nodes_file_is_an_error_at_the_key() {
        let dir = fleet("[[node]]\nname = \"a\"\nhost = \"h\"\n", None);
        let toml = dir.path().join("fleet.toml");
        std::fs::write(&toml, "nodes_file = \"gone.csv\"\n").expect("write");
        let e = load(dir.path()).expect_err("missing");
        let gone = dir.path().join("gone.csv");
        let os = std::fs::read(&gone).expect_err("absent");
        assert_eq!(
            e,
            format!(
                "{}:1:14: nodes_file: cannot read {}: {os}",
                toml.display(),
                gone.display()
            )
        );
        std::fs::write(&toml, "nodes_file = \" \"\n").expect("write");
        assert_eq!(
            load(dir.path()).expect_err("empty"),
            format!("{}:1:14: nodes_file: must not be empty", toml.display())
        );
    }
}
