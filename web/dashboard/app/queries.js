// Every operation the dashboard sends: the public API, nothing else.
const EVENT = `id cursor kind rule reason at customer { id name }
  fromOwner { id name } toOwner { id name } actor { id name }`;

export const ME = `query DashboardMe { me { id name role team { id name } } }`;

export const STATS = `query DashboardStats { ownershipStats {
  giniOfLoad overdueFollowUps poolSize
  owners { customers overdue owner { id name capacity } } } }`;

// Several pools (when the server has them): detected by asking for the type.
export const HAS_POOLS = `query DashboardHasPools { __type(name: "Pool") { name } }`;
export const POOLS = `query DashboardPools($soon: DateTime!) {
  pools { id name isDefault size }
  dueSoon: customers(filter: { recycleDueBefore: $soon }, first: 1) { totalCount } }`;

// The history walk reads only what claims today need; the feed's first rows come after.
export const EVENT_KINDS = `query DashboardEventKinds($after: String) {
  ownershipEvents(first: 100, after: $after) {
    edges { node { id cursor kind at } } pageInfo { hasNextPage endCursor } } }`;
export const EVENTS = `query DashboardEvents($after: String, $first: Int!) {
  ownershipEvents(first: $first, after: $after) { edges { node { ${EVENT} } } } }`;

export const TRANSFERS = `query DashboardTransfers { transferRequests(status: PENDING) {
  id kind reason status createdAt
  fromUser { id name } toUser { id name } approvals { approved approver { id } } } }`;

export const DISPUTES = `query DashboardDisputes { disputes(status: ESCALATED, first: 50) {
  edges { node { id reason status customer { id name }
    claimant { id name } respondent { id name } arbiter { id } } } } }`;

export const DECIDE_TRANSFER = `mutation DashboardDecideTransfer($id: ID!, $approve: Boolean!) {
  decideTransfer(id: $id, approve: $approve) { id status } }`;

export const RESOLVE_DISPUTE = `mutation DashboardResolveDispute($id: ID!, $to: ID!) {
  resolveDispute(id: $id, awardToUserId: $to) { id status } }`;

export const LIVE_EVENTS = `subscription DashboardLive($since: String) {
  ownershipChanged(since: $since) { ${EVENT} } }`;

export const LIVE_REMINDERS = `subscription DashboardReminders($since: String) {
  reminderDue(since: $since) { id cursor kind message dueAt customer { id name } } }`;
