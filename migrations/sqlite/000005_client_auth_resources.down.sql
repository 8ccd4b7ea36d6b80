-- Drops what 000005_client_auth_resources.up.sql added.
DROP TABLE IF EXISTS client_assertions;
DROP TABLE IF EXISTS client_resources;
DROP TABLE IF EXISTS resources;
ALTER TABLE clients DROP COLUMN scopes;
ALTER TABLE clients DROP COLUMN jwks;
ALTER TABLE clients DROP COLUMN auth_method;
