//! The town supervisor daemon (`gt start`/`gt shutdown`) and the witness.
