package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"sio/limits"
)

// The Redis stores keep the gateway's state for a cluster of nodes on one
// Redis (or Redis Cluster). Keys, all under Prefix ("sio:gw:" by default):
//
//	ban:<userId>                string, JSON {reason, until, by}; PX until the ban ends, no expiry when permanent
//	dedup:<sha256(user, clientMsgId)>  string "p:<token>" while the first send runs (PX 20 s),
//	                            then "d:<message JSON>" (PX 10 min)
//	h:{<channel>}:log           stream, one entry {id: <message id>} per message, in storage order,
//	                            trimmed to HISTORY_SIZE entries and HISTORY_TTL of age; PEXPIRE HISTORY_TTL
//	h:{<channel>}:msg           hash, message id → "<stream entry id> <message JSON>" (bodies, addressable
//	                            for edit and delete); trimmed with the stream; PEXPIRE HISTORY_TTL
//	{presence}:…                presence by user across nodes: presence_redis.go
//
// The history's two keys share a hash tag, so its scripts are atomic on a
// Redis Cluster too; the presence keys all share one.
//
// Every call is bounded by Timeout and goes through one circuit breaker
// ("redis"): while Redis is unreachable calls fail at once with an error
// the handlers answer as unavailable. The client connects in the
// background: a node starts while Redis is down and its stores come up with
// Redis.

// RedisStoreOptions configure the Redis stores.
type RedisStoreOptions struct {
	URL    string // redis://…, as rueidis.ParseURL reads it
	Prefix string // of every key ("sio:gw:")
	// NodeID names this node in the presence keys (no "|"; replaced).
	NodeID string
	// Timeout bounds every call (2 s).
	Timeout time.Duration
	// Heartbeat is how often the node marks itself alive (5 s); a node not
	// heard of for 3 heartbeats is dead and its sockets are uncounted.
	Heartbeat time.Duration
	// HistorySize and HistoryTTL bound each channel's history.
	HistorySize int
	HistoryTTL  time.Duration
	// BreakerThreshold consecutive failures open the breaker (5) for
	// BreakerCooldown (5 s).
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// OnBreakerChange observes the breaker (logs).
	OnBreakerChange func(name string, from, to limits.BreakerState)
	Logger          *slog.Logger
}

// RedisStores are the four stores on one Redis client.
type RedisStores struct {
	Messages *RedisMessages
	Bans     *RedisBans
	Dedup    *RedisDedup
	Presence *RedisPresence

	opt     RedisStoreOptions
	copt    rueidis.ClientOption
	log     *slog.Logger
	breaker *limits.Breaker

	mu      sync.RWMutex
	client  rueidis.Client // nil until connected
	lastErr error
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// ErrRedisDown is returned while the stores have no connection to Redis.
var ErrRedisDown = errors.New("gateway: redis unavailable")

// NewRedisStores checks the options and starts connecting in the
// background; it fails only on a bad URL.
func NewRedisStores(opt RedisStoreOptions) (*RedisStores, error) {
	copt, err := rueidis.ParseURL(opt.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	copt.DisableCache = true
	copt.ConnWriteTimeout = 5 * time.Second
	if copt.Dialer.Timeout == 0 {
		copt.Dialer.Timeout = 2 * time.Second
	}
	if opt.Prefix == "" {
		opt.Prefix = "sio:gw:"
	}
	if opt.NodeID == "" {
		opt.NodeID = randomNodeID()
	}
	opt.NodeID = strings.ReplaceAll(opt.NodeID, "|", "_")
	if opt.Timeout <= 0 {
		opt.Timeout = 2 * time.Second
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 5 * time.Second
	}
	if opt.HistorySize <= 0 {
		opt.HistorySize = 1000
	}
	if opt.HistoryTTL <= 0 {
		opt.HistoryTTL = 24 * time.Hour
	}
	if opt.BreakerCooldown <= 0 {
		opt.BreakerCooldown = 5 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	r := &RedisStores{opt: opt, copt: copt, log: opt.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	r.breaker = &limits.Breaker{Name: "redis", Threshold: opt.BreakerThreshold, Cooldown: opt.BreakerCooldown,
		OnStateChange: opt.OnBreakerChange}
	r.Messages = &RedisMessages{r: r}
	r.Bans = &RedisBans{r: r}
	r.Dedup = &RedisDedup{r: r, poll: 25 * time.Millisecond}
	r.Presence = &RedisPresence{r: r, node: opt.NodeID, pre: opt.Prefix + "{presence}:"}
	go r.connect()
	return r, nil
}

func randomNodeID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// connect creates the client, retrying with backoff (rueidis dials at
// creation and fails when Redis is down; once created it reconnects by
// itself).
func (r *RedisStores) connect() {
	defer close(r.done)
	wait := 100 * time.Millisecond
	for {
		c, err := rueidis.NewClient(r.copt)
		r.mu.Lock()
		if err == nil && r.closed {
			r.mu.Unlock()
			c.Close()
			return
		}
		if err == nil {
			r.client = c
			r.lastErr = nil
			r.mu.Unlock()
			r.log.Info("redis stores connected", "node", r.opt.NodeID)
			return
		}
		r.lastErr = err
		r.mu.Unlock()
		select {
		case <-r.stop:
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Close closes the client.
func (r *RedisStores) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.stop)
	c := r.client
	r.client = nil
	r.mu.Unlock()
	<-r.done
	if c != nil {
		c.Close()
	}
}

// Breaker is the stores' circuit breaker ("redis").
func (r *RedisStores) Breaker() *limits.Breaker { return r.breaker }

// NodeID is this node's name in the presence keys.
func (r *RedisStores) NodeID() string { return r.opt.NodeID }

// do runs fn with the client, bounded by the timeout and the breaker. A
// reply from Redis (nil included) counts as success for the breaker: only
// the connection failing, or a call timing out, counts against it.
func (r *RedisStores) do(ctx context.Context, fn func(ctx context.Context, c rueidis.Client) error) error {
	if err := r.breaker.Allow(); err != nil {
		return fmt.Errorf("%w: %w", ErrRedisDown, err)
	}
	r.mu.RLock()
	c, lastErr := r.client, r.lastErr
	r.mu.RUnlock()
	if c == nil {
		if lastErr == nil {
			lastErr = errors.New("not connected yet")
		}
		err := fmt.Errorf("%w: %w", ErrRedisDown, lastErr)
		r.breaker.Done(err)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	err := fn(ctx, c)
	var re *rueidis.RedisError
	if err == nil || rueidis.IsRedisNil(err) || errors.Is(err, ErrNotFound) || errors.As(err, &re) {
		r.breaker.Done(nil)
	} else {
		r.breaker.Done(err)
	}
	if err != nil && !rueidis.IsRedisNil(err) && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: %w", ErrRedisDown, err)
	}
	return err
}

// ---- bans ----------------------------------------------------------------

// RedisBans is the BanStore of a cluster: one key per banned user, which
// expires when the ban ends.
type RedisBans struct{ r *RedisStores }

type banRecord struct {
	Reason string `json:"reason"`
	Until  string `json:"until,omitempty"` // RFC 3339; empty: permanent
	By     string `json:"by"`
}

func (s *RedisBans) key(userID string) string { return s.r.opt.Prefix + "ban:" + userID }

// Put stores the ban with an expiry at its end (none when permanent).
func (s *RedisBans) Put(ctx context.Context, b Ban) error {
	rec := banRecord{Reason: b.Reason, By: b.By}
	var px time.Duration
	if !b.Until.IsZero() {
		rec.Until = b.Until.UTC().Format(time.RFC3339Nano)
		if px = time.Until(b.Until); px <= 0 {
			_, err := s.Remove(ctx, b.UserID)
			return err
		}
	}
	body, _ := json.Marshal(rec)
	return s.r.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		cmd := c.B().Set().Key(s.key(b.UserID)).Value(string(body))
		if px > 0 {
			return c.Do(ctx, cmd.Px(max(px, time.Millisecond)).Build()).Error()
		}
		return c.Do(ctx, cmd.Build()).Error()
	})
}

// Remove deletes the ban; it reports whether there was one.
func (s *RedisBans) Remove(ctx context.Context, userID string) (bool, error) {
	var n int64
	err := s.r.do(ctx, func(ctx context.Context, c rueidis.Client) (err error) {
		n, err = c.Do(ctx, c.B().Del().Key(s.key(userID)).Build()).AsInt64()
		return err
	})
	return n > 0, err
}

// Get returns the user's ban while it lasts.
func (s *RedisBans) Get(ctx context.Context, userID string) (Ban, bool, error) {
	var raw string
	err := s.r.do(ctx, func(ctx context.Context, c rueidis.Client) (err error) {
		raw, err = c.Do(ctx, c.B().Get().Key(s.key(userID)).Build()).ToString()
		return err
	})
	if rueidis.IsRedisNil(err) {
		return Ban{}, false, nil
	}
	if err != nil {
		return Ban{}, false, err
	}
	var rec banRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return Ban{}, false, fmt.Errorf("ban record of %s: %w", userID, err)
	}
	b := Ban{UserID: userID, Reason: rec.Reason, By: rec.By}
	if rec.Until != "" {
		if b.Until, err = time.Parse(time.RFC3339Nano, rec.Until); err != nil {
			return Ban{}, false, fmt.Errorf("ban record of %s: %w", userID, err)
		}
	}
	if !b.Active(time.Now()) {
		return Ban{}, false, nil
	}
	return b, true, nil
}

// Cleanup is Redis's: bans expire by themselves.
func (s *RedisBans) Cleanup(time.Time) int { return 0 }

// ---- de-duplication -------------------------------------------------------

// RedisDedup is the DedupStore of a cluster: SET NX claims a key for the
// first send; the others wait for its result.
type RedisDedup struct {
	r    *RedisStores
	poll time.Duration // first wait between looks at a pending key
}

// dedupPending bounds how long a claim survives its node: a node that dies
// mid-send frees the key after this (longer than a handler may run).
const dedupPending = 20 * time.Second

var (
	dedupFinish = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)
	dedupRelease = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

func (s *RedisDedup) key(k string) string {
	sum := sha256.Sum256([]byte(k))
	return s.r.opt.Prefix + "dedup:" + hex.EncodeToString(sum[:16])
}

// Do runs fn once per key within ttl across the cluster. A concurrent call
// (on any node) waits for the first one's result; a failed fn releases the
// key. When Redis cannot be asked, fn does not run (the send is answered
// unavailable): a retry must not deliver twice.
func (s *RedisDedup) Do(ctx context.Context, key string, ttl time.Duration, fn func() (Message, error)) (Message, bool, error) {
	k := s.key(key)
	token := "p:" + randomNodeID()
	wait := s.poll
	for {
		var claimed bool
		var cur string
		err := s.r.do(ctx, func(ctx context.Context, c rueidis.Client) error {
			err := c.Do(ctx, c.B().Set().Key(k).Value(token).Nx().Px(dedupPending).Build()).Error()
			if err == nil {
				claimed = true
				return nil
			}
			if !rueidis.IsRedisNil(err) {
				return err
			}
			cur, err = c.Do(ctx, c.B().Get().Key(k).Build()).ToString()
			if rueidis.IsRedisNil(err) {
				cur, err = "", nil // gone meanwhile: claim again
			}
			return err
		})
		if err != nil {
			return Message{}, false, err
		}
		if claimed {
			m, ferr := fn()
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.r.opt.Timeout)
			if ferr != nil {
				_ = s.r.do(bg, func(ctx context.Context, c rueidis.Client) error {
					return dedupRelease.Exec(ctx, c, []string{k}, []string{token}).Error()
				})
				cancel()
				return Message{}, false, ferr
			}
			body, _ := json.Marshal(m)
			// Delivered: a failure to record it only means a retry after
			// the claim expires would run again.
			_ = s.r.do(bg, func(ctx context.Context, c rueidis.Client) error {
				return dedupFinish.Exec(ctx, c, []string{k},
					[]string{token, "d:" + string(body), strconv.FormatInt(ttl.Milliseconds(), 10)}).Error()
			})
			cancel()
			return m, false, nil
		}
		if strings.HasPrefix(cur, "d:") {
			var m Message
			if err := json.Unmarshal([]byte(cur[2:]), &m); err != nil {
				return Message{}, false, fmt.Errorf("dedup record: %w", err)
			}
			m.created, _ = time.Parse(time.RFC3339Nano, m.CreatedAt)
			return m, true, nil
		}
		if cur == "" {
			continue
		}
		select { // another send holds the key: wait for its result
		case <-ctx.Done():
			return Message{}, false, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 250*time.Millisecond)
	}
}

// Cleanup is Redis's: keys expire by themselves.
func (s *RedisDedup) Cleanup(time.Time) int { return 0 }

// ---- history ---------------------------------------------------------------

// RedisMessages is the MessageStore of a cluster: per channel a stream (the
// order, capped by count and age) and a hash of the bodies by message id
// (edits and deletes address them). The scripts keep the two in step:
// what the stream's trimming removes, the hash loses too.
type RedisMessages struct{ r *RedisStores }

func (s *RedisMessages) keys(ch string) []string {
	base := s.r.opt.Prefix + "h:{" + ch + "}:"
	return []string{base + "log", base + "msg"}
}

// Common Lua: now in ms by Redis's clock, and the trimming by count and
// age of a channel's stream and bodies.
const historyLua = `
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function sidms(v)
  local sid = string.sub(v, 1, string.find(v, ' ', 1, true) - 1)
  return tonumber(string.sub(sid, 1, string.find(sid, '-', 1, true) - 1)), sid
end
local function trim(log, msg, maxlen, minms)
  local over = redis.call('XLEN', log) - maxlen
  while over > 0 do
    local old = redis.call('XRANGE', log, '-', '+', 'COUNT', math.min(over, 1000))
    for _, e in ipairs(old) do redis.call('HDEL', msg, e[2][2]); redis.call('XDEL', log, e[1]) end
    over = over - #old
  end
  while true do
    local old = redis.call('XRANGE', log, '-', tostring(minms - 1), 'COUNT', 1000)
    if #old == 0 then break end
    for _, e in ipairs(old) do redis.call('HDEL', msg, e[2][2]); redis.call('XDEL', log, e[1]) end
  end
end
`

var (
	// KEYS log, msg; ARGV id, body, maxlen, ttl ms
	historyAppend = rueidis.NewLuaScript(historyLua + `
local sid = redis.call('XADD', KEYS[1], '*', 'id', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], sid .. ' ' .. ARGV[2])
trim(KEYS[1], KEYS[2], tonumber(ARGV[3]), nowms() - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return sid`)
	// KEYS log, msg; ARGV id, ttl ms → body, or nil
	historyGet = rueidis.NewLuaScriptReadOnly(historyLua + `
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return false end
if sidms(v) < nowms() - tonumber(ARGV[2]) then return false end
return string.sub(v, string.find(v, ' ', 1, true) + 1)`)
	// KEYS log, msg; ARGV id, body → 1, or 0 when unknown
	historyUpdate = rueidis.NewLuaScript(historyLua + `
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 0 end
local _, sid = sidms(v)
redis.call('HSET', KEYS[2], ARGV[1], sid .. ' ' .. ARGV[2])
return 1`)
	// KEYS log, msg; ARGV id → 1, or 0 when unknown
	historyDelete = rueidis.NewLuaScript(historyLua + `
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 0 end
local _, sid = sidms(v)
redis.call('XDEL', KEYS[1], sid)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`)
	// KEYS log, msg; ARGV before ("" = newest), limit, ttl ms → bodies
	// oldest first, or nil when before is unknown.
	historyPage = rueidis.NewLuaScriptReadOnly(historyLua + `
local minms = nowms() - tonumber(ARGV[3])
local last = '+'
if ARGV[1] ~= '' then
  local v = redis.call('HGET', KEYS[2], ARGV[1])
  if not v then return false end
  local ms, sid = sidms(v)
  if ms < minms then return false end
  last = '(' .. sid
end
local es = redis.call('XREVRANGE', KEYS[1], last, tostring(minms), 'COUNT', tonumber(ARGV[2]))
local out = {}
for i = #es, 1, -1 do
  local v = redis.call('HGET', KEYS[2], es[i][2][2])
  if v then out[#out + 1] = string.sub(v, string.find(v, ' ', 1, true) + 1) end
end
return out`)
)

func (s *RedisMessages) ttlArg() string {
	return strconv.FormatInt(s.r.opt.HistoryTTL.Milliseconds(), 10)
}

func encodeMessage(m Message) string {
	if m.Attachments == nil {
		m.Attachments = []Attachment{}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeMessage(raw string) (Message, error) {
	var m Message
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return Message{}, fmt.Errorf("stored message: %w", err)
	}
	m.created, _ = time.Parse(time.RFC3339Nano, m.CreatedAt)
	return m, nil
}

// Append adds a message to its channel's history.
func (s *RedisMessages) Append(ctx context.Context, m Message) error {
	return s.r.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		return historyAppend.Exec(ctx, c, s.keys(m.ChannelID),
			[]string{m.ID, encodeMessage(m), strconv.Itoa(s.r.opt.HistorySize), s.ttlArg()}).Error()
	})
}

// Get returns a message still in the history.
func (s *RedisMessages) Get(ctx context.Context, channelID, id string) (Message, error) {
	var raw string
	err := s.r.do(ctx, func(ctx context.Context, c rueidis.Client) (err error) {
		raw, err = historyGet.Exec(ctx, c, s.keys(channelID), []string{id, s.ttlArg()}).ToString()
		if rueidis.IsRedisNil(err) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return Message{}, err
	}
	return decodeMessage(raw)
}

// Update replaces a message's body (an edit).
func (s *RedisMessages) Update(ctx context.Context, m Message) error {
	return s.r.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		n, err := historyUpdate.Exec(ctx, c, s.keys(m.ChannelID), []string{m.ID, encodeMessage(m)}).AsInt64()
		if err == nil && n == 0 {
			return ErrNotFound
		}
		return err
	})
}

// Delete removes a message from the stream and the bodies.
func (s *RedisMessages) Delete(ctx context.Context, channelID, id string) error {
	return s.r.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		n, err := historyDelete.Exec(ctx, c, s.keys(channelID), []string{id}).AsInt64()
		if err == nil && n == 0 {
			return ErrNotFound
		}
		return err
	})
}

// History pages the channel's history, oldest first.
func (s *RedisMessages) History(ctx context.Context, channelID, before string, limit int) ([]Message, error) {
	var raws []string
	err := s.r.do(ctx, func(ctx context.Context, c rueidis.Client) (err error) {
		raws, err = historyPage.Exec(ctx, c, s.keys(channelID), []string{before, strconv.Itoa(limit), s.ttlArg()}).AsStrSlice()
		if rueidis.IsRedisNil(err) {
			if before == "" {
				return nil
			}
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(raws))
	for _, raw := range raws {
		m, err := decodeMessage(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Cleanup is Redis's: streams are trimmed on append and keys expire.
func (s *RedisMessages) Cleanup(time.Time) int { return 0 }

var (
	_ MessageStore = (*RedisMessages)(nil)
	_ BanStore     = (*RedisBans)(nil)
	_ DedupStore   = (*RedisDedup)(nil)
)
