ALTER TABLE clients DROP COLUMN home_uri;
