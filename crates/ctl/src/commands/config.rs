//! `config get | set | list`.

use core_models::{config_store, DbConn, ModelError};

use crate::cli::ConfigCommand;
use crate::output::{self, Table};

/// Runs one `config` subcommand.
pub fn run(conn: &mut DbConn, cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Get { key } => match config_store::get(conn, &key)? {
            Some(v) => outln!("{v}"),
            None => {
                return Err(ModelError::NotFound(format!(
                    "config key '{key}' is not set: `ctl config list` shows the keys, `ctl config set {key} VALUE` sets it"
                ))
                .into())
            }
        },
        ConfigCommand::Set { key, value } => {
            let previous = config_store::set(conn, &key, &value)?;
            match previous {
                Some(p) => outln!("{key} = \"{value}\" (was \"{p}\")"),
                None => outln!("{key} = \"{value}\""),
            }
        }
        ConfigCommand::List(out) => {
            let entries = config_store::list(conn)?;
            if out.json {
                return output::json(&config_store::as_map(conn)?);
            }
            let mut t = Table::new(&["KEY", "VALUE", "UPDATED (UTC)"]);
            for e in &entries {
                t.row(vec![
                    e.meta_key.clone(),
                    output::cell(&e.meta_value, 60),
                    output::time(&e.updated_at),
                ]);
            }
            t.print("No settings. `ctl populate-initial-data` creates the defaults.");
        }
    }
    Ok(())
}
