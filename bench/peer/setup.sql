-- What PostGraphile 4 needs to answer the dashboard query over ownergraph's own tables
-- (bench/peer.py runs this on the benchmark database, as the database owner).
--
-- Scope: the same rows MANAGER sees in ownergraph and in bench/reference.py (customers of
-- the caller's own team and of the teams they manage, plus the pool), by row-level
-- security, the way a PostGraphile team would do it. Each request runs as the role
-- og_bench_peer (PostGraphile's `SET LOCAL ROLE`) with og.token_hash set to the SHA-256 of
-- its bearer token; the policy finds the caller from that hash with the same token check
-- as ownergraph (not revoked, not expired, active user), once per statement (an InitPlan).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'og_bench_peer') THEN
        CREATE ROLE og_bench_peer NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO og_bench_peer;
GRANT SELECT ON customer, users, team, collaborator, follow_up, dispute TO og_bench_peer;

-- The teams whose customers the caller sees (SECURITY DEFINER: the role cannot read tokens).
CREATE OR REPLACE FUNCTION og_peer_teams() RETURNS int[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    WITH viewer AS (
        SELECT u.id, u.team_id FROM api_token k JOIN users u ON u.id = k.user_id
        WHERE k.token_hash = current_setting('og.token_hash', true)
          AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
          AND u.active
    )
    SELECT coalesce(array_agg(DISTINCT t), '{}') FROM (
        SELECT team_id AS t FROM viewer WHERE team_id IS NOT NULL
        UNION SELECT team.id FROM team JOIN viewer ON team.manager_id = viewer.id
    ) teams
$$;
REVOKE ALL ON FUNCTION og_peer_teams() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION og_peer_teams() TO og_bench_peer;
COMMENT ON FUNCTION og_peer_teams() IS E'@omit';

ALTER TABLE customer ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS og_peer_scope ON customer;
CREATE POLICY og_peer_scope ON customer FOR SELECT TO og_bench_peer
    USING (team_id = ANY ((SELECT og_peer_teams())::int[]) OR owner_id IS NULL);

-- Computed columns, PostGraphile's way to add fields: Customer.openDisputes and
-- Customer.latestFollowUp.
CREATE OR REPLACE FUNCTION customer_open_disputes(c customer) RETURNS SETOF dispute
LANGUAGE sql STABLE AS $$
    SELECT * FROM dispute WHERE customer_id = c.id AND status IN ('OPEN', 'ESCALATED')
    ORDER BY id
$$;
CREATE OR REPLACE FUNCTION customer_latest_follow_up(c customer) RETURNS follow_up
LANGUAGE sql STABLE AS $$
    SELECT * FROM follow_up WHERE customer_id = c.id ORDER BY at DESC, id DESC LIMIT 1
$$;
GRANT EXECUTE ON FUNCTION customer_open_disputes(customer) TO og_bench_peer;
GRANT EXECUTE ON FUNCTION customer_latest_follow_up(customer) TO og_bench_peer;
