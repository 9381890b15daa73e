//! The `tenants` command-line tool. Exit codes: 0 success, 1 invalid input or
//! stale output, 2 usage or I/O error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tenants_compiler::{compile, diag, schema};

#[derive(Parser)]
#[command(
    name = "tenants",
    version,
    about = "Compile tenant files (KDL, JSON, JSONC) into validated config for a multi-tenant Cloudflare Worker",
    after_help = "Exit codes: 0 valid (or schemas fresh); 1 invalid input, stale schemas, or warnings with --deny-warnings; 2 usage or I/O error (missing directory, missing or duplicate platform/accounts file, unreadable file).\nDocs: docs/tenant-format.md, docs/diagnostics.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutputFormat {
    Human,
    Json,
    Github,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the platform file, the accounts file and every tenant; print all diagnostics.
    Check {
        /// The tenants directory.
        #[arg(long, default_value = "tenants")]
        root: PathBuf,
        /// Output format: human (terminal), json (one object), github (workflow annotations).
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
        /// Treat warnings as errors (exit 1 on any warning).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Write the JSON Schemas for tenant, platform and accounts files.
    Schema {
        /// Output directory.
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
        /// Write nothing; exit 1 if the files in --out differ from what would be written.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Check {
            root,
            format,
            deny_warnings,
        } => {
            let comp = match compile(&root) {
                Ok(c) => c,
                Err(e) => {
                    // Machine formats still get something to parse.
                    match format {
                        OutputFormat::Json => println!(
                            "{}",
                            serde_json::json!({ "error": { "message": e.to_string() }, "diagnostics": [] })
                        ),
                        OutputFormat::Github => println!(
                            "::error title=tenants%3A%3Aload::{}",
                            e.to_string().replace('%', "%25").replace('\n', "%0A")
                        ),
                        OutputFormat::Human => {}
                    }
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let items = &comp.diagnostics.items;
            let mut summary = comp.summary();
            // With --deny-warnings a warning fails the run: say so in every format.
            summary.valid = summary.errors == 0 && !(deny_warnings && summary.warnings > 0);
            match format {
                OutputFormat::Json => print!("{}", diag::render_json(&comp.sources, items, &summary)),
                OutputFormat::Github => print!("{}", diag::render_github(&comp.sources, items)),
                OutputFormat::Human => {
                    let color = std::io::stderr().is_terminal();
                    eprint!("{}", diag::render_human(&comp.sources, items, color));
                    eprintln!(
                        "{}: {} files, {} tenants, {} error(s), {} warning(s)",
                        if summary.valid { "ok" } else { "invalid" },
                        summary.files,
                        summary.tenants,
                        summary.errors,
                        summary.warnings
                    );
                }
            }
            if comp.has_io_errors() {
                ExitCode::from(2)
            } else if !summary.valid {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Schema { out, check } => {
            let files = schema::render_all();
            if check {
                let stale = schema::stale_files(&out, &files);
                if stale.is_empty() {
                    eprintln!("schemas in {} are up to date", out.display());
                    ExitCode::SUCCESS
                } else {
                    for s in &stale {
                        eprintln!("stale: {}", s);
                    }
                    eprintln!(
                        "run `cargo run --bin tenants -- schema --out {}` and commit the result",
                        out.display()
                    );
                    ExitCode::from(1)
                }
            } else {
                match schema::write_all(&out, &files) {
                    Ok(n) => {
                        eprintln!("wrote {n} schema(s) to {}", out.display());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::from(2)
                    }
                }
            }
        }
    }
}
