-- Drops what 000003_sms_mfa.up.sql created.
DROP TABLE IF EXISTS recovery_codes;
DROP TABLE IF EXISTS sms_challenges;
