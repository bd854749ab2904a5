//! Every declared route against every role.
