-- The collector's archive, version 1 (PostgreSQL). See src/archive/mod.rs for what each table
-- holds and the invariants the collector keeps. Never edit a released migration: add the
-- next numbered file instead.

-- One row per registered gateway, and its ingest state.
CREATE TABLE gateways (
    gateway          TEXT PRIMARY KEY NOT NULL,
    origin           TEXT NOT NULL UNIQUE,
    public_key       TEXT NOT NULL,             -- standard base64 of the Ed25519 key
    city             TEXT NOT NULL DEFAULT '',
    enterprise       TEXT NOT NULL DEFAULT '',
    project          TEXT NOT NULL DEFAULT '',
    registered_ms    BIGINT  NOT NULL,
    horizon          BIGINT,                   -- highest seq known to exist (record or checkpoint)
    records          BIGINT  NOT NULL DEFAULT 0,
    first_wall_ms    BIGINT,
    last_wall_ms     BIGINT,
    last_received_ms BIGINT
);

-- Verified records, exactly once per (origin, seq).
CREATE TABLE records (
    origin      TEXT NOT NULL,
    seq         BIGINT  NOT NULL,
    typ         TEXT NOT NULL,
    wall_ms     BIGINT  NOT NULL,
    leaf        BYTEA NOT NULL,                  -- RFC 6962 leaf hash of body
    prev        BYTEA NOT NULL,
    body        TEXT NOT NULL,                  -- the canonical (JCS) record, with sig
    received_ms BIGINT  NOT NULL,
    PRIMARY KEY (origin, seq)
);

-- Checkpoint notes whose gateway signature verified; one per tree size. The note keeps every
-- signature line seen for that size (the gateway's and any witness cosignatures).
CREATE TABLE checkpoints (
    origin       TEXT NOT NULL,
    size         BIGINT  NOT NULL,
    root         BYTEA NOT NULL,
    note         TEXT NOT NULL,
    signatures   BIGINT  NOT NULL,
    received_ms  BIGINT  NOT NULL,
    root_checked BIGINT  NOT NULL DEFAULT 0,    -- 0 records incomplete, 1 root matches, 2 mismatch
    PRIMARY KEY (origin, size)
);

-- Everything wrong: gaps (kept current: a late record shrinks or removes its gap), conflicts,
-- bad signatures, broken links, unknown gateways, bad checkpoints. `fingerprint` makes a
-- re-delivered problem count instead of adding a row; gap rows have none.
CREATE TABLE anomalies (
    id            BIGSERIAL PRIMARY KEY,
    origin        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    first_seq     BIGINT,
    last_seq      BIGINT,
    detail        TEXT NOT NULL,
    fingerprint   TEXT UNIQUE,
    count         BIGINT  NOT NULL DEFAULT 1,
    first_seen_ms BIGINT  NOT NULL,
    last_seen_ms  BIGINT  NOT NULL
);
CREATE INDEX anomalies_by_origin ON anomalies (origin, kind);

-- Per gateway and UTC day: time covered by usage intervals with successful polls, and records.
CREATE TABLE coverage_days (
    origin     TEXT NOT NULL,
    day        BIGINT  NOT NULL,               -- days since 1970-01-01 (UTC)
    covered_ms BIGINT  NOT NULL,
    records    BIGINT  NOT NULL,
    PRIMARY KEY (origin, day)
);
