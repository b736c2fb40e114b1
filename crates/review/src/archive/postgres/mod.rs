//! The PostgreSQL archive, for fleets: several collectors on one database. Each batch is one
//! transaction that first locks the rows of the gateways it touches (`SELECT … FOR UPDATE`,
//! in origin order, so two collectors never deadlock on them); a gateway's records are
//! therefore planned and written by one collector at a time, whichever received them. Bulk
//! reads and writes go through `unnest` arrays: a few statements per batch, not per record.
//!
//! No TLS: the server is reached on localhost or a private network (README).

mod archive;
mod ingest;

pub use archive::PgArchive;
