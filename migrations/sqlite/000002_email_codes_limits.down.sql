-- Drops what 000002_email_codes_limits.up.sql created.
DROP TABLE IF EXISTS counters;
DROP TABLE IF EXISTS email_codes;
