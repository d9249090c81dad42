-- A lost answer to a token refresh (issue "Convergence").
--
-- Pinterest rotates the refresh token on every refresh: once it has
-- processed POST /oauth/token, the token pinsync sent is dead. When the
-- answer is lost on the way back (a timeout, a dropped connection, a 5xx
-- after processing), pinsync cannot know whether the token it holds still
-- works, so it does not send the refresh again: it records here when and
-- what happened, tries the stored token once on the next refresh and, if
-- Pinterest refuses it (code 283), names this lost answer as the likely
-- cause. `pinsync auth status` shows the mark. A successful refresh (in the
-- same commit that stores the rotated tokens) and `pinsync auth set` clear
-- it. refresh_lost_detail holds the HTTP status, Pinterest's error code and
-- x-pinterest-rid, or the transport error: never a token.

ALTER TABLE oauth_tokens
    ADD COLUMN refresh_lost_at timestamptz,
    ADD COLUMN refresh_lost_detail text;
