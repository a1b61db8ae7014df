//! The SQLite catalogue: schema, migrations, writes and queries.
