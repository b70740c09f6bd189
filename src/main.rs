//! The `stateless-operator` command line: `crd` and `render` work with no cluster.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stateless_operator::{crd_yaml, render};

/// A Kubernetes operator that makes stateless workloads the enforced default.
#[derive(Parser, Debug)]
#[command(name = "stateless-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the StatelessService CustomResourceDefinition as YAML.
    Crd,
    /// Validate StatelessService manifests and print the objects the operator would create.
    Render {
        /// A YAML file with one or more StatelessServices, or `-` for standard input.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Render { file } => render_command(&file),
    }
}

fn read_input(file: &PathBuf) -> Result<(String, String), render::RenderError> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| render::RenderError::Read {
                source_name: "<stdin>".to_string(),
                error,
            })?;
        Ok(("<stdin>".to_string(), text))
    } else {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|error| render::RenderError::Read {
            source_name: name.clone(),
            error,
        })?;
        Ok((name, text))
    }
}

fn render_command(file: &PathBuf) -> ExitCode {
    let result = read_input(file)
        .map_err(|e| vec![e])
        .and_then(|(name, text)| render::render(&name, &text));
    match result {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
