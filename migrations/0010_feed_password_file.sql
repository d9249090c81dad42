-- A target's own feed password file (issue "Hardening").
--
-- A feed URL's password (https://user:pass@host/...) was stored in plain
-- text in targets.feed. With `--feed-password-file FILE` the target keeps
-- a reference to a file instead: the URL is stored with its user only, and
-- every run reads the password from the file (it beats
-- PINSYNC_FEED_PASSWORD_FILE, which applies to targets without one). The
-- path is absolute (target add/set make it so).

ALTER TABLE targets ADD COLUMN feed_password_file text;
