-- Refresh secrets that were rotated away, so a replay of one is told from a wrong guess (RFC 9700: reuse
-- of a rotated refresh token revokes the session; an unknown secret revokes nothing). On the session's shard.
CREATE TABLE rotated_secrets (
  secret_hash bytea PRIMARY KEY,
  session_id bigint NOT NULL,
  rotated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rotated_secrets_session ON rotated_secrets (session_id);
