-- The collector's archive, version 2 (SQLite): topic is identity, and only verified
-- cosignatures count (issue 15). Never edit a released migration: add the next numbered file.

-- Where each gateway publishes and under which MQTT user: a message counts for a gateway only
-- if it arrived under its topic prefix and names its origin. Existing gateways get the
-- agent's defaults (prefix edgeproof/<gateway id>, user = gateway id).
ALTER TABLE gateways ADD COLUMN topic_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE gateways ADD COLUMN mqtt_user TEXT NOT NULL DEFAULT '';
UPDATE gateways SET topic_prefix = 'edgeproof/' || gateway, mqtt_user = gateway;
CREATE UNIQUE INDEX gateways_by_topic_prefix ON gateways (topic_prefix);

-- The topic an anomaly's message came on, and the origin its payload claimed (for
-- `misrouted`: another gateway's evidence on this topic). NULL where no message is involved
-- (gaps, root mismatches) and in rows written by version 1.
ALTER TABLE anomalies ADD COLUMN topic TEXT;
ALTER TABLE anomalies ADD COLUMN claimed_origin TEXT;

-- Signature lines that arrived on a checkpoint but verify under neither the gateway's key nor
-- a trusted witness key: kept apart from `note` (which holds only verified lines), one per
-- line, at most 16 per checkpoint. They change no verdict.
ALTER TABLE checkpoints ADD COLUMN unverified TEXT NOT NULL DEFAULT '';

-- Witnesses whose cosignatures the collector verifies (besides `collect --witness-key`).
CREATE TABLE witnesses (
    name          TEXT PRIMARY KEY NOT NULL,
    vkey          TEXT NOT NULL,               -- C2SP vkey, type 0x04
    registered_ms INTEGER NOT NULL
);
