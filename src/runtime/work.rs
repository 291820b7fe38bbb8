//! Town work: sling, hook, prime, done.
