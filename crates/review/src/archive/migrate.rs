//! Schema migrations: numbered SQL files under `migrations/{sqlite,postgres}/`, embedded in
//! the binary and applied in order at start, each in the transaction that records it in
//! `schema_version`. Released files are never edited; a change is the next file.

/// One migration.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Its number; `schema_version` holds the highest applied.
    pub version: i64,
    /// File name without extension.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// SQLite migrations, in order.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "0002_topic_identity",
        sql: include_str!("../../migrations/sqlite/0002_topic_identity.sql"),
    },
];

/// PostgreSQL migrations, in order.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "0002_topic_identity",
        sql: include_str!("../../migrations/postgres/0002_topic_identity.sql"),
    },
];

/// Creates the version table (both dialects understand this statement).
pub const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version    BIGINT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    applied_ms BIGINT NOT NULL
)";

/// The migrations still to apply over `current`, or the newest version known when `current`
/// is newer than that (a database migrated by a newer build).
pub fn pending(all: &'static [Migration], current: i64) -> Result<&'static [Migration], i64> {
    let known = latest(all);
    if current > known {
        return Err(known);
    }
    Ok(&all[all.iter().take_while(|m| m.version <= current).count()..])
}

/// The newest version in `all`.
pub fn latest(all: &[Migration]) -> i64 {
    all.last().map_or(0, |m| m.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_holes_in_both_dialects() {
        for all in [SQLITE, POSTGRES] {
            for (i, m) in all.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{}", m.name);
                assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{}", m.name);
            }
        }
        assert_eq!(latest(SQLITE), latest(POSTGRES), "both dialects at the same version");
        assert_eq!(pending(SQLITE, 0).unwrap().len(), SQLITE.len());
        assert!(pending(SQLITE, latest(SQLITE)).unwrap().is_empty());
        assert_eq!(pending(SQLITE, 99).unwrap_err(), latest(SQLITE));
    }
}
