package gateway

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// RedisPresence is the PresenceStore of a cluster. Its keys share the hash
// tag {presence} (one slot on a Redis Cluster), so that each operation is
// one atomic script:
//
//	{presence}:u:<userId>        hash: name, status, last (lastActiveAt), and the counts by node:
//	                             s|<node> → the user's sockets on that node,
//	                             c|<node>|<channel> → those of them in the channel
//	{presence}:c:<channel>       set of the user ids in the channel (on any node)
//	{presence}:n:<node>:users    set of the users with a socket on the node
//	{presence}:n:<node>:alive    the node's heartbeat: PX 3 heartbeats, renewed every heartbeat
//	{presence}:nodes             sorted set of the nodes, by last heartbeat (ms)
//
// A user is online while their hash holds a socket count on any node; the
// hash goes (and the user goes offline) with their last socket. A node
// that dies without uncounting its sockets stops renewing its heartbeat;
// once the key has expired, any other node's Reap removes the dead node's
// counts and reports the users whose last sockets were there. A node that
// finds its own heartbeat gone (Redis restarted, or it was unreachable long
// enough to be reaped) rewrites its counts from its sockets: Reconcile.
type RedisPresence struct {
	r    *RedisStores
	node string
	pre  string // Prefix + "{presence}:"
}

// NodePresence is a PresenceStore shared by the nodes of a cluster: each
// node counts its own sockets under its name, proves it is alive with a
// heartbeat, and removes the counts of nodes that stopped.
type NodePresence interface {
	PresenceStore
	// HeartbeatInterval is how often Heartbeat and Reap should run.
	HeartbeatInterval() time.Duration
	// Heartbeat renews this node's heartbeat; lost reports that it had
	// expired (or Redis lost it): the node's counts must be rewritten.
	Heartbeat(ctx context.Context) (lost bool, err error)
	// Reap removes the counts of nodes whose heartbeat expired and
	// returns the users that went offline with them.
	Reap(ctx context.Context) ([]PresenceChange, error)
	// Reconcile makes the store's counts for this node those of users
	// (this node's truth): it returns the users that went offline (counted
	// here before, no socket anywhere now) and those that came back (they
	// had no entry: announce them online).
	Reconcile(ctx context.Context, users []NodeUser) (gone, back []PresenceChange, err error)
	// Abandon stops the heartbeat (shutdown): the other nodes reap what
	// this one leaves behind.
	Abandon(ctx context.Context) error
}

// NodeUser is one user's sockets on this node.
type NodeUser struct {
	UserID, Name string
	Sockets      int
	Channels     map[string]int // channel → the user's sockets in it
}

// PresenceChange is a user's presence and the channels to tell.
type PresenceChange struct {
	Presence Presence
	Channels []string
}

// presenceLua is shared by the scripts. ARGV[1] is always the key prefix
// and ARGV[2] the node.
const presenceLua = `
local pre, node = ARGV[1], ARGV[2]
local function ukey(uid) return pre .. 'u:' .. uid end
local function ckey(ch) return pre .. 'c:' .. ch end
-- scan sums a user hash's counts: sockets on every node, sockets per channel.
local function scan(h)
  local sockets, chans = 0, {}
  for i = 1, #h, 2 do
    local f, n = h[i], tonumber(h[i + 1])
    local kind = string.sub(f, 1, 2)
    if kind == 's|' then
      sockets = sockets + n
    elseif kind == 'c|' then
      local bar = string.find(f, '|', 3, true)
      local ch = string.sub(f, bar + 1)
      chans[ch] = (chans[ch] or 0) + n
    end
  end
  return sockets, chans
end
local function pres(k)
  local p = redis.call('HMGET', k, 'name', 'status', 'last')
  return {p[1] or '', p[2] or 'online', p[3] or ''}
end
-- drop removes node n's counts from the user; when no socket is left
-- anywhere the user's hash goes and drop returns {uid, name, last,
-- channels...} (the user is offline), else nil.
local function drop(uid, n, now)
  local k = ukey(uid)
  local h = redis.call('HGETALL', k)
  if #h == 0 then return nil end
  local sf, cp = 's|' .. n, 'c|' .. n .. '|'
  local found, mine = false, {}
  for i = 1, #h, 2 do
    local f = h[i]
    if f == sf then
      found = true
      redis.call('HDEL', k, f)
    elseif string.sub(f, 1, #cp) == cp then
      found = true
      redis.call('HDEL', k, f)
      mine[#mine + 1] = string.sub(f, #cp + 1)
    end
  end
  if not found then return nil end
  local sockets, chans = scan(redis.call('HGETALL', k))
  if sockets > 0 then
    for _, ch in ipairs(mine) do
      if not chans[ch] then redis.call('SREM', ckey(ch), uid) end
    end
    return nil
  end
  local p = pres(k)
  redis.call('DEL', k)
  local out, seen = {uid, p[1], now}, {}
  for _, ch in ipairs(mine) do seen[ch] = true end
  for ch, _ in pairs(chans) do seen[ch] = true end
  for ch, _ in pairs(seen) do
    redis.call('SREM', ckey(ch), uid)
    out[#out + 1] = ch
  end
  return out
end
`

var (
	// KEYS user, node users; ARGV pre, node, uid, name, now → {first, name, status, last}
	presenceConnect = rueidis.NewLuaScript(presenceLua + `
local k = KEYS[1]
redis.call('HINCRBY', k, 's|' .. node, 1)
local sockets = scan(redis.call('HGETALL', k))
local first = 0
if sockets == 1 then
  first = 1
  redis.call('HSET', k, 'name', ARGV[4], 'status', 'online')
end
redis.call('HSET', k, 'last', ARGV[5])
redis.call('SADD', KEYS[2], ARGV[3])
local p = pres(k)
return {first, p[1], p[2], p[3]}`)
	// KEYS user, node users; ARGV pre, node, uid, now →
	// {0} unknown here, {1, name, status, last} still online,
	// {2, uid, name, last, channels...} offline
	presenceDisconnect = rueidis.NewLuaScript(presenceLua + `
local k, f = KEYS[1], 's|' .. node
if not redis.call('HGET', k, f) then return {0} end
if redis.call('HINCRBY', k, f, -1) <= 0 then
  redis.call('SREM', KEYS[2], ARGV[3])
  local d = drop(ARGV[3], node, ARGV[4])
  if d then
    table.insert(d, 1, 2)
    return d
  end
end
redis.call('HSET', k, 'last', ARGV[4])
local p = pres(k)
return {1, p[1], p[2], p[3]}`)
	// KEYS user, channel; ARGV pre, node, uid, channel → 1 first, 0 not, -1 unknown
	presenceJoin = rueidis.NewLuaScript(presenceLua + `
local k = KEYS[1]
if not redis.call('HGET', k, 's|' .. node) then return -1 end
redis.call('HINCRBY', k, 'c|' .. node .. '|' .. ARGV[4], 1)
local _, chans = scan(redis.call('HGETALL', k))
if chans[ARGV[4]] == 1 then
  redis.call('SADD', KEYS[2], ARGV[3])
  return 1
end
return 0`)
	// KEYS user, channel; ARGV pre, node, uid, channel → 1 last, 0 not
	presenceLeave = rueidis.NewLuaScript(presenceLua + `
local k, f = KEYS[1], 'c|' .. node .. '|' .. ARGV[4]
if not redis.call('HGET', k, f) then return 0 end
if redis.call('HINCRBY', k, f, -1) <= 0 then redis.call('HDEL', k, f) end
local _, chans = scan(redis.call('HGETALL', k))
if not chans[ARGV[4]] then
  redis.call('SREM', KEYS[2], ARGV[3])
  return 1
end
return 0`)
	// KEYS user; ARGV pre, node, status, now → {name, status, last} or nil
	presenceStatus = rueidis.NewLuaScript(presenceLua + `
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return false end
redis.call('HSET', k, 'status', ARGV[3], 'last', ARGV[4])
return pres(k)`)
	// KEYS user; ARGV pre, node → {name, status, last} or nil
	presenceGet = rueidis.NewLuaScriptReadOnly(presenceLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return pres(KEYS[1])`)
	// KEYS channel; ARGV pre, node → {uid, name, status, last, ...}
	presenceOnline = rueidis.NewLuaScriptReadOnly(presenceLua + `
local out = {}
for _, uid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ukey(uid)
  if redis.call('EXISTS', k) == 1 then
    local p = pres(k)
    out[#out + 1] = uid
    out[#out + 1] = p[1]
    out[#out + 1] = p[2]
    out[#out + 1] = p[3]
  end
end
return out`)
	// KEYS alive, nodes; ARGV pre, node, ttl ms → 1 it was alive, 0 lost
	presenceHeartbeat = rueidis.NewLuaScript(presenceLua + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local old = redis.call('SET', KEYS[1], now, 'PX', ARGV[3], 'GET')
redis.call('ZADD', KEYS[2], now, node)
if old then return 1 end
return 0`)
	// KEYS nodes; ARGV pre, node (this one), now, batch →
	// {more, {uid, name, last, channels...}, ...}
	presenceReap = rueidis.NewLuaScript(presenceLua + `
local out, more, budget = {0}, 0, tonumber(ARGV[4])
for _, n in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if n ~= node and redis.call('EXISTS', pre .. 'n:' .. n .. ':alive') == 0 then
    local uk = pre .. 'n:' .. n .. ':users'
    local users = redis.call('SPOP', uk, budget)
    for _, uid in ipairs(users) do
      local d = drop(uid, n, ARGV[3])
      if d then out[#out + 1] = d end
    end
    budget = budget - #users
    if redis.call('SCARD', uk) == 0 then
      redis.call('ZREM', KEYS[1], n)
    else
      more = 1
    end
    if budget <= 0 then break end
  end
end
out[1] = more
return out`)
	// KEYS user, node users; ARGV pre, node, uid, name, now, sockets, ch, n, ... →
	// {back (1: the user had no entry), name, status, last}
	presenceRestore = rueidis.NewLuaScript(presenceLua + `
local k, uid = KEYS[1], ARGV[3]
local existed = redis.call('EXISTS', k)
local h = redis.call('HGETALL', k)
local sf, cp = 's|' .. node, 'c|' .. node .. '|'
local old = {}
for i = 1, #h, 2 do
  local f = h[i]
  if f == sf then
    redis.call('HDEL', k, f)
  elseif string.sub(f, 1, #cp) == cp then
    redis.call('HDEL', k, f)
    old[string.sub(f, #cp + 1)] = true
  end
end
redis.call('HSET', k, sf, ARGV[6])
for i = 7, #ARGV, 2 do
  redis.call('HSET', k, cp .. ARGV[i], ARGV[i + 1])
  redis.call('SADD', ckey(ARGV[i]), uid)
  old[ARGV[i]] = nil
end
local _, chans = scan(redis.call('HGETALL', k))
for ch, _ in pairs(old) do
  if not chans[ch] then redis.call('SREM', ckey(ch), uid) end
end
if existed == 0 or not redis.call('HGET', k, 'status') then
  redis.call('HSET', k, 'name', ARGV[4], 'status', 'online', 'last', ARGV[5])
end
redis.call('SADD', KEYS[2], uid)
local p = pres(k)
return {1 - existed, p[1], p[2], p[3]}`)
	// KEYS node users; ARGV pre, node, uid, now → like drop
	presenceDrop = rueidis.NewLuaScript(presenceLua + `
redis.call('SREM', KEYS[1], ARGV[3])
local d = drop(ARGV[3], node, ARGV[4])
if d then return d end
return {}`)
	// KEYS alive; ARGV pre, node
	presenceAbandon = rueidis.NewLuaScript(presenceLua + `
return redis.call('DEL', KEYS[1])`)
)

func (s *RedisPresence) ukey(uid string) string { return s.pre + "u:" + uid }
func (s *RedisPresence) ckey(ch string) string  { return s.pre + "c:" + ch }
func (s *RedisPresence) nodeKey(suffix string) string {
	return s.pre + "n:" + s.node + ":" + suffix
}

func (s *RedisPresence) args(more ...string) []string {
	return append([]string{s.pre, s.node}, more...)
}

func (s *RedisPresence) run(ctx context.Context, script *rueidis.Lua, keys, args []string) (rueidis.RedisMessage, error) {
	var msg rueidis.RedisMessage
	err := s.r.do(ctx, func(ctx context.Context, c rueidis.Client) (err error) {
		msg, err = script.Exec(ctx, c, keys, args).ToMessage()
		return err
	})
	return msg, err
}

// strs flattens an array reply of strings and integers.
func strs(msg rueidis.RedisMessage) []string {
	arr, _ := msg.ToArray()
	out := make([]string, len(arr))
	for i, m := range arr {
		if s, err := m.ToString(); err == nil {
			out[i] = s
		} else if n, err := m.ToInt64(); err == nil {
			out[i] = strconv.FormatInt(n, 10)
		}
	}
	return out
}

func presenceOf(uid string, f []string) Presence {
	return Presence{UserID: uid, Name: f[0], Status: f[1], LastActiveAt: f[2]}
}

// change decodes {uid, name, last, channels...}: the user gone offline.
func change(f []string) PresenceChange {
	chans := append([]string{}, f[3:]...)
	sort.Strings(chans)
	return PresenceChange{Presence: Presence{UserID: f[0], Name: f[1], Status: "offline", LastActiveAt: f[2]}, Channels: chans}
}

// Connect implements PresenceStore.
func (s *RedisPresence) Connect(ctx context.Context, userID, name string, now time.Time) (Presence, bool, error) {
	msg, err := s.run(ctx, presenceConnect, []string{s.ukey(userID), s.nodeKey("users")}, s.args(userID, name, stamp(now)))
	if err != nil {
		return Presence{}, false, err
	}
	f := strs(msg)
	if len(f) != 4 {
		return Presence{}, false, fmt.Errorf("presence connect: reply %v", f)
	}
	return presenceOf(userID, f[1:]), f[0] == "1", nil
}

// Disconnect implements PresenceStore.
func (s *RedisPresence) Disconnect(ctx context.Context, userID string, now time.Time) (Presence, bool, []string, error) {
	msg, err := s.run(ctx, presenceDisconnect, []string{s.ukey(userID), s.nodeKey("users")}, s.args(userID, stamp(now)))
	if err != nil {
		return Presence{}, false, nil, err
	}
	f := strs(msg)
	switch {
	case len(f) == 4 && f[0] == "1":
		return presenceOf(userID, f[1:]), false, nil, nil
	case len(f) >= 4 && f[0] == "2":
		c := change(f[1:])
		return c.Presence, true, c.Channels, nil
	}
	return Presence{}, false, nil, nil
}

// SetStatus implements PresenceStore.
func (s *RedisPresence) SetStatus(ctx context.Context, userID, status string, now time.Time) (Presence, bool, error) {
	msg, err := s.run(ctx, presenceStatus, []string{s.ukey(userID)}, s.args(status, stamp(now)))
	if rueidis.IsRedisNil(err) {
		return Presence{}, false, nil
	}
	if err != nil {
		return Presence{}, false, err
	}
	return presenceOf(userID, strs(msg)), true, nil
}

// Get implements PresenceStore.
func (s *RedisPresence) Get(ctx context.Context, userID string) (Presence, bool, error) {
	msg, err := s.run(ctx, presenceGet, []string{s.ukey(userID)}, s.args())
	if rueidis.IsRedisNil(err) {
		return Presence{}, false, nil
	}
	if err != nil {
		return Presence{}, false, err
	}
	return presenceOf(userID, strs(msg)), true, nil
}

// Join implements PresenceStore.
func (s *RedisPresence) Join(ctx context.Context, userID, channelID string) (bool, error) {
	msg, err := s.run(ctx, presenceJoin, []string{s.ukey(userID), s.ckey(channelID)}, s.args(userID, channelID))
	if err != nil {
		return false, err
	}
	n, _ := msg.ToInt64()
	return n == 1, nil
}

// Leave implements PresenceStore.
func (s *RedisPresence) Leave(ctx context.Context, userID, channelID string) (bool, error) {
	msg, err := s.run(ctx, presenceLeave, []string{s.ukey(userID), s.ckey(channelID)}, s.args(userID, channelID))
	if err != nil {
		return false, err
	}
	n, _ := msg.ToInt64()
	return n == 1, nil
}

// Online implements PresenceStore.
func (s *RedisPresence) Online(ctx context.Context, channelID string) ([]Presence, error) {
	msg, err := s.run(ctx, presenceOnline, []string{s.ckey(channelID)}, s.args())
	if err != nil {
		return nil, err
	}
	f := strs(msg)
	out := make([]Presence, 0, len(f)/4)
	for i := 0; i+3 < len(f); i += 4 {
		out = append(out, presenceOf(f[i], f[i+1:i+4]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

// Channels implements PresenceStore: the channels the user is in on any
// node.
func (s *RedisPresence) Channels(ctx context.Context, userID string) ([]string, error) {
	var fields []string
	err := s.r.do(ctx, func(ctx context.Context, c rueidis.Client) (err error) {
		fields, err = c.Do(ctx, c.B().Hkeys().Key(s.ukey(userID)).Build()).AsStrSlice()
		return err
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []string{}
	for _, f := range fields {
		rest, ok := strings.CutPrefix(f, "c|")
		if !ok {
			continue
		}
		if _, ch, ok := strings.Cut(rest, "|"); ok && !seen[ch] {
			seen[ch] = true
			out = append(out, ch)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Cleanup is the reaper's (Reap): nothing to do here.
func (s *RedisPresence) Cleanup(time.Time) int { return 0 }

// HeartbeatInterval implements NodePresence.
func (s *RedisPresence) HeartbeatInterval() time.Duration { return s.r.opt.Heartbeat }

// Heartbeat implements NodePresence.
func (s *RedisPresence) Heartbeat(ctx context.Context) (bool, error) {
	msg, err := s.run(ctx, presenceHeartbeat, []string{s.nodeKey("alive"), s.pre + "nodes"},
		s.args(strconv.FormatInt((3*s.r.opt.Heartbeat).Milliseconds(), 10)))
	if err != nil {
		return false, err
	}
	n, _ := msg.ToInt64()
	return n == 0, nil
}

// reapBatch bounds the users one Reap call handles (the script blocks
// Redis while it runs).
const reapBatch = 500

// Reap implements NodePresence.
func (s *RedisPresence) Reap(ctx context.Context) ([]PresenceChange, error) {
	var out []PresenceChange
	for {
		msg, err := s.run(ctx, presenceReap, []string{s.pre + "nodes"}, s.args(stamp(time.Now()), strconv.Itoa(reapBatch)))
		if err != nil {
			return out, err
		}
		arr, _ := msg.ToArray()
		if len(arr) == 0 {
			return out, nil
		}
		more, _ := arr[0].ToInt64()
		for _, m := range arr[1:] {
			if f := strs(m); len(f) >= 3 {
				out = append(out, change(f))
			}
		}
		if more == 0 {
			return out, nil
		}
	}
}

// Reconcile implements NodePresence.
func (s *RedisPresence) Reconcile(ctx context.Context, users []NodeUser) (gone, back []PresenceChange, err error) {
	now := stamp(time.Now())
	here := make(map[string]bool, len(users))
	// Pipelined in batches: a node may hold many users, and the gateway
	// holds its presence changes while this runs.
	const batch = 256
	for start := 0; start < len(users); start += batch {
		part := users[start:min(start+batch, len(users))]
		execs := make([]rueidis.LuaExec, len(part))
		chans := make([][]string, len(part))
		for i, u := range part {
			here[u.UserID] = true
			args := s.args(u.UserID, u.Name, now, strconv.Itoa(u.Sockets))
			for ch, n := range u.Channels {
				if n > 0 {
					args = append(args, ch, strconv.Itoa(n))
					chans[i] = append(chans[i], ch)
				}
			}
			sort.Strings(chans[i])
			execs[i] = rueidis.LuaExec{Keys: []string{s.ukey(u.UserID), s.nodeKey("users")}, Args: args}
		}
		var res []rueidis.RedisResult
		err := s.r.do(ctx, func(ctx context.Context, c rueidis.Client) error {
			res = presenceRestore.ExecMulti(ctx, c, execs...)
			for _, r := range res {
				if err := r.Error(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return gone, back, err
		}
		for i, r := range res {
			msg, _ := r.ToMessage()
			if f := strs(msg); len(f) == 4 && f[0] == "1" {
				back = append(back, PresenceChange{Presence: presenceOf(part[i].UserID, f[1:]), Channels: chans[i]})
			}
		}
	}
	var listed []string
	err = s.r.do(ctx, func(ctx context.Context, c rueidis.Client) (err error) {
		listed, err = c.Do(ctx, c.B().Smembers().Key(s.nodeKey("users")).Build()).AsStrSlice()
		return err
	})
	if err != nil {
		return gone, back, err
	}
	for _, uid := range listed {
		if here[uid] {
			continue
		}
		msg, err := s.run(ctx, presenceDrop, []string{s.nodeKey("users")}, s.args(uid, now))
		if err != nil {
			return gone, back, err
		}
		if f := strs(msg); len(f) >= 3 {
			gone = append(gone, change(f))
		}
	}
	return gone, back, nil
}

// Abandon implements NodePresence.
func (s *RedisPresence) Abandon(ctx context.Context) error {
	_, err := s.run(ctx, presenceAbandon, []string{s.nodeKey("alive")}, s.args())
	return err
}

var _ NodePresence = (*RedisPresence)(nil)
