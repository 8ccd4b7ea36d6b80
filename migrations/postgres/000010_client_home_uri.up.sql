-- A client's home URI: where the account page's "Back to <app>" link goes. Empty: the origin of
-- the client's first redirect URI.
ALTER TABLE clients ADD COLUMN home_uri TEXT NOT NULL DEFAULT '';
