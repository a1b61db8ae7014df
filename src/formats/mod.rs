//! Readers for imaging file headers (and later pixels). Knows nothing of SQLite or terminals.
