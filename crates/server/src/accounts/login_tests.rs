//! Sign-in behaviour: throttling, sessions, CSRF, re-hashing, audit.
