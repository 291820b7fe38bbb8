//! The beads ledger: SQLite store, issues, dependencies, events, ready set,
//! JSONL export/import. (Built in the beads issue.)
