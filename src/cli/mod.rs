//! Command line: clap arguments → checked configuration → headless subcommands.
//!
//! Exit codes follow ripgrep's: 0 success, 1 "found something" where a subcommand defines it,
//! 2 usage or I/O errors. A closed stdout (e.g. `| head`) is not an error.

mod check;
mod labels;
mod output;
mod phi;
pub mod preview;

pub use check::{CheckFormat, FailOn};

use crate::catalogue::{self, Catalogue};
use crate::formats::dicom::Limits;
use crate::scan::{self, ScanOptions};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// dicura: a terminal curation console for radiology imaging datasets.
///
/// Without a subcommand, opens the console: `dicura DIR` scans DIR (incrementally, in the
/// background) and browses it; `dicura FILE.sqlite` browses that catalogue; `dicura` alone
/// browses the default catalogue.
#[derive(Debug, Parser)]
#[command(name = "dicura", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A directory to scan and browse, or a catalogue file to browse
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArg,
    /// Colour theme: dark, light, high-contrast, or a theme file in the config directory
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Browse a catalogue without writing to it (no scanning)
    #[arg(long)]
    pub read_only: bool,
    /// Terminal graphics for previews: sixel, kitty, iterm, halfblocks, none [default: the
    /// config file's `graphics`, else detected by asking the terminal]
    #[arg(long, value_name = "PROTOCOL")]
    pub graphics: Option<String>,
    /// A label scheme (TOML) to validate and store in the catalogue, for labelling (6)
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Who labels [default: $DICURA_USER, else the login name]
    #[arg(long, value_name = "NAME")]
    pub annotator: Option<String>,
}

#[derive(Debug, clap::Args, Clone)]
pub struct DbArg {
    /// Catalogue file [default: $DICURA_DB, else $XDG_DATA_HOME/dicura/catalogue.sqlite]
    #[arg(long, value_name = "PATH", global = true)]
    pub db: Option<PathBuf>,
}

impl DbArg {
    fn path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(catalogue::default_path)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ShowFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan directories (DICOM, NIfTI-1/2, Analyze, anything else) into the catalogue.
    /// Incremental: unchanged files are not opened again; removed files are marked removed.
    Scan {
        /// Directories to scan
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Parser threads [default: one per core]
        #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
        jobs: usize,
        /// Follow symbolic links (loops are detected and reported)
        #[arg(long)]
        follow_links: bool,
        /// Print one JSON summary object on stdout
        #[arg(long)]
        json: bool,
    },
    /// Counts: patients, studies, series, instances, volumes, files by kind, instances by modality.
    Stats {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Run a read-only SQL query against the catalogue (see docs/catalogue.md for the schema).
    Query {
        /// The SQL (SELECT ...)
        sql: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
        format: QueryFormat,
    },
    /// Bring findings up to date and list them: conformance, integrity, duplicates, protocol.
    /// Exit status 1 when a finding at or above --fail-on exists.
    Check(CheckArgs),
    /// Write the picture the Preview pane shows as a PNG: a DICOM frame, a NIfTI/Analyze
    /// slice, or a series' slice or reformat; with the header's window, a CT preset, an
    /// automatic or a manual window.
    Render(preview::RenderArgs),
    /// Show one image in the terminal (sixel, kitty, iTerm2 or half blocks), fitted to it.
    View(preview::ViewArgs),
    /// Acknowledge a finding (rule + file/series/study/folder) with a reason; survives rescans.
    Ack(AckArgs),
    /// The metadata of one file, read from the file: DICOM (every element, including the file
    /// meta group; JSON in the DICOM JSON model, PS3.18 Annex F) or NIfTI/Analyze (every
    /// header field).
    Show {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// PHI review: every PS3.15 Table E.1-1 attribute with a value (at any depth), private
    /// blocks by creator, the patient's name/ID inside other text or the path, burned-in
    /// text risk, head volumes, NIfTI/Analyze text. Values are never printed unless
    /// --show-values (and each one printed is recorded in the audit table).
    Phi {
        #[arg(long, value_enum, default_value_t = PhiFormat::Jsonl)]
        format: PhiFormat,
        /// One row per attribute/creator/risk over the dataset: files, distinct values
        #[arg(long)]
        summary: bool,
        /// Print the values (recorded in the reveal audit table)
        #[arg(long)]
        show_values: bool,
        /// Only files matching this filter (the console's filter language)
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
    },
    /// De-identified copies (PS3.15 Basic Profile and options, the plan), never in place.
    Deid {
        /// Output directory (a tree PATIENT/STUDY/SERIES/ of Part 10 files)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Confidentiality profile
        #[arg(long, default_value = "basic")]
        profile: String,
        /// PS3.15 option, e.g. retain-longitudinal-modified-dates (repeatable)
        #[arg(long = "option", value_name = "NAME")]
        options: Vec<String>,
        /// De-identification plan (TOML); stored in the catalogue. Default: the stored plan
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Pseudonymise: keep the original <-> pseudonym mapping in FILE (owner-only)
        #[arg(long, value_name = "FILE")]
        pseudonyms: Option<PathBuf>,
        /// Write nothing; print per attribute what would be done and in how many files
        #[arg(long)]
        dry_run: bool,
        /// Export files with burned-in text risk too
        #[arg(long)]
        allow_burned_in: bool,
        /// Mirror the source layout instead of PATIENT/STUDY/SERIES
        #[arg(long)]
        keep_layout: bool,
        /// Only files matching this filter
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// Worker threads [default: one per core]
        #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
        jobs: usize,
        /// Print a JSON summary
        #[arg(long)]
        json: bool,
    },
    /// The originals behind pseudonyms (needs the pseudonym file of `deid --pseudonyms`).
    Reidentify {
        #[arg(long, value_name = "FILE")]
        pseudonyms: PathBuf,
        /// Pseudonyms (patient ID, accession number, UID)
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Labelling: the label scheme, scriptable labelling and adjudication, history, counts and
    /// agreement, export (csv, jsonl, class-per-folder symlinks) and import.
    Labels(LabelsArgs),
    /// The de-identification plan stored in the catalogue: load from / save to TOML, or print.
    Plan {
        #[arg(long, value_name = "FILE")]
        load: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct LabelsArgs {
    /// A label scheme (TOML) to validate and store in the catalogue first
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    #[command(subcommand)]
    command: labels::LabelsCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PhiFormat {
    Jsonl,
    Csv,
    Table,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    db: DbArg,
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    format: CheckFormat,
    /// Also read pixel data: blank/constant images, tiny dynamic range, lossy among lossless
    #[arg(long)]
    deep: bool,
    /// Check series and studies against a protocol (TOML; see README)
    #[arg(long, value_name = "FILE")]
    protocol: Option<PathBuf>,
    /// Exit with status 1 when an unacknowledged finding at or above this severity exists
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,
}

#[derive(Debug, clap::Args)]
pub struct AckArgs {
    /// The rule code (e.g. series.slice.gap)
    code: String,
    #[command(flatten)]
    db: DbArg,
    /// A catalogued file
    #[arg(long, value_name = "P")]
    path: Option<PathBuf>,
    /// A Series Instance UID
    #[arg(long, value_name = "UID")]
    series: Option<String>,
    /// A Study Instance UID
    #[arg(long, value_name = "UID")]
    study: Option<String>,
    /// A folder (for folder.mixed_series)
    #[arg(long, value_name = "DIR")]
    folder: Option<PathBuf>,
    /// Only findings about this tag (GGGG,EEEE)
    #[arg(long)]
    tag: Option<String>,
    /// Why the finding is acceptable (stored with the acknowledgement)
    #[arg(long, required = true)]
    reason: String,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum QueryFormat {
    Table,
    Jsonl,
    Csv,
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return 0;
            }
            eprintln!("dicura: {e:#}");
            2
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let db = cli.db.clone();
    let Some(command) = cli.command else {
        crate::tui::run(crate::tui::TuiOptions {
            path: cli.path,
            db: db.path(),
            theme: cli.theme,
            read_only: cli.read_only,
            graphics: cli.graphics,
            labels: cli.labels,
            annotator: cli.annotator,
        })?;
        return Ok(0);
    };
    match command {
        Command::Scan {
            dirs,
            jobs,
            follow_links,
            json,
        } => {
            let cat = Catalogue::open(&db.path())?;
            let opts = ScanOptions {
                roots: dirs,
                jobs,
                follow_links,
                progress: true,
                limits: Limits::default(),
                counters: None,
            };
            let (summary, _cat) = scan::scan(cat, &opts)?;
            if json {
                serde_json::to_writer(&mut out, &summary)?;
                writeln!(out)?;
            } else {
                output::scan_summary(&mut out, &summary)?;
            }
            Ok(0)
        }
        Command::Stats { json } => {
            let cat = Catalogue::open_read_only(&db.path())?;
            let stats = cat.stats()?;
            if json {
                serde_json::to_writer(&mut out, &stats)?;
                writeln!(out)?;
            } else {
                output::stats(&mut out, &stats, cat.path())?;
            }
            Ok(0)
        }
        Command::Query { sql, format } => {
            let cat = Catalogue::open_read_only(&db.path())?;
            let (names, rows) = cat.query_json(&sql)?;
            output::query(&mut out, &names, &rows, format)?;
            Ok(0)
        }
        Command::Check(a) => check::run(
            &mut out,
            &a.db.path(),
            a.format,
            a.deep,
            a.protocol.as_deref(),
            a.fail_on,
        ),
        Command::Ack(a) => check::ack(
            &mut out,
            &a.db.path(),
            &a.code,
            a.path.as_deref(),
            a.series.as_deref(),
            a.study.as_deref(),
            a.folder.as_deref(),
            a.tag.as_deref(),
            &a.reason,
        ),
        Command::Render(a) => preview::render(&mut out, &a),
        Command::View(a) => preview::view(&mut out, &a),
        Command::Show { file, format } => {
            output::show(&mut out, &file, format)?;
            Ok(0)
        }
        Command::Phi {
            format,
            summary,
            show_values,
            filter,
        } => {
            let format = match format {
                PhiFormat::Jsonl => QueryFormat::Jsonl,
                PhiFormat::Csv => QueryFormat::Csv,
                PhiFormat::Table => QueryFormat::Table,
            };
            phi::phi(
                &mut out,
                &db.path(),
                format,
                summary,
                show_values,
                filter.as_deref(),
            )
        }
        Command::Deid {
            out: dir,
            profile,
            options,
            plan,
            pseudonyms,
            dry_run,
            allow_burned_in,
            keep_layout,
            filter,
            jobs,
            json,
        } => phi::deid(
            &mut out,
            &db.path(),
            phi::DeidArgs {
                out: dir,
                profile,
                options,
                plan,
                pseudonyms,
                dry_run,
                allow_burned_in,
                keep_layout,
                filter,
                jobs,
                json,
            },
        ),
        Command::Reidentify { pseudonyms, values } => {
            phi::reidentify(&mut out, &pseudonyms, &values)
        }
        Command::Labels(a) => labels::run(&mut out, &db.path(), a.labels.as_deref(), a.command),
        Command::Plan { load, save } => {
            phi::plan(&mut out, &db.path(), load.as_deref(), save.as_deref())
        }
    }
}
