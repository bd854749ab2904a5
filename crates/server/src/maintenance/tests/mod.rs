//! Tests of maintenance windows and recurring tasks against real Postgres.
