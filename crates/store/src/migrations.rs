//! The schema, one migration list per database. `migrations/` is the source of truth; the files
//! are compiled in here with their sqlx-cli versions and descriptions (`0001_init.sql` is
//! version 1, "init"), so `sqlx migrate` and the store agree on what was applied. A unit test
//! checks that every file is listed.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL) of each PostgreSQL migration, in order.
const POSTGRES: &[(i64, &str, &str)] = &[(1, "init", include_str!("../migrations/postgres/0001_init.sql"))];

/// (version, description, SQL) of each SQLite migration, in order.
const SQLITE: &[(i64, &str, &str)] = &[(1, "init", include_str!("../migrations/sqlite/0001_init.sql"))];

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

fn migrator(list: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        list.iter()
            .map(|&(version, description, sql)| {
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The file names a list stands for, e.g. `0001_init.sql`.
    fn names(list: &[(i64, &str, &str)]) -> Vec<String> {
        list.iter().map(|(version, description, _)| format!("{version:04}_{description}.sql")).collect()
    }

    fn files(dir: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
            .map(|entry| entry.expect("read a directory entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_compiled_in() {
        assert_eq!(names(super::POSTGRES), files("postgres"));
        assert_eq!(names(super::SQLITE), files("sqlite"));
    }
}
