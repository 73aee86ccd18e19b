package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/limits"
)

// newTestStores starts stores (a node) on rd and waits until they are
// connected.
func newTestStores(t *testing.T, rd *testutil.Redis, node string, mutate func(*RedisStoreOptions)) *RedisStores {
	t.Helper()
	o := RedisStoreOptions{URL: rd.URL(), NodeID: node, Heartbeat: 100 * time.Millisecond, Timeout: time.Second,
		BreakerCooldown: 300 * time.Millisecond, Logger: quiet()}
	if mutate != nil {
		mutate(&o)
	}
	s, err := NewRedisStores(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		_, _, err := s.Bans.Get(context.Background(), "probe")
		return err
	})
	return s
}

func pttl(t *testing.T, rd *testutil.Redis, key string) time.Duration {
	t.Helper()
	v, err := rd.Do("PTTL", key)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(v)
	return time.Duration(n) * time.Millisecond
}

// TestRedisBans: a ban made through one node holds on another; its key
// expires with the ban (none for a permanent one); unban reports it.
func TestRedisBans(t *testing.T) {
	rd := testutil.StartRedis(t)
	a, b := newTestStores(t, rd, "a", nil), newTestStores(t, rd, "b", nil)
	ctx := context.Background()
	if err := a.Bans.Put(ctx, Ban{UserID: "bob", Reason: "spam", By: "mod"}); err != nil {
		t.Fatal(err)
	}
	ban, ok, err := b.Bans.Get(ctx, "bob")
	if err != nil || !ok || ban.Reason != "spam" || ban.By != "mod" || !ban.Until.IsZero() {
		t.Fatalf("permanent ban seen from b: %+v %v %v", ban, ok, err)
	}
	if d := pttl(t, rd, "sio:gw:ban:bob"); d != -time.Millisecond {
		t.Fatalf("permanent ban PTTL %v, want none (-1)", d)
	}
	until := time.Now().Add(400 * time.Millisecond)
	if err := b.Bans.Put(ctx, Ban{UserID: "eve", Reason: "flood", Until: until, By: "mod"}); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, rd, "sio:gw:ban:eve"); d <= 0 || d > 400*time.Millisecond {
		t.Fatalf("timed ban PTTL %v, want its remaining time", d)
	}
	if ban, ok, _ := a.Bans.Get(ctx, "eve"); !ok || !ban.Until.Equal(until) {
		t.Fatalf("timed ban %+v %v, until %v", ban, ok, until)
	}
	time.Sleep(time.Until(until) + 50*time.Millisecond)
	if _, ok, err := a.Bans.Get(ctx, "eve"); ok || err != nil {
		t.Fatalf("ended ban still holds: %v %v", ok, err)
	}
	if v, _ := rd.Do("EXISTS", "sio:gw:ban:eve"); v != "0" {
		t.Fatal("ended ban's key did not expire")
	}
	if was, err := b.Bans.Remove(ctx, "bob"); !was || err != nil {
		t.Fatalf("unban: %v %v", was, err)
	}
	if was, _ := a.Bans.Remove(ctx, "bob"); was {
		t.Fatal("second unban reports a ban")
	}
	if _, ok, _ := a.Bans.Get(ctx, "bob"); ok {
		t.Fatal("unbanned user still banned")
	}
}

// TestRedisDedupRunsOnceAcrossNodes: concurrent sends with one key on two
// nodes run fn once; the others wait and get its message; a failure
// releases the key; the record lives 10 minutes.
func TestRedisDedupRunsOnceAcrossNodes(t *testing.T) {
	rd := testutil.StartRedis(t)
	nodes := []*RedisStores{newTestStores(t, rd, "a", nil), newTestStores(t, rd, "b", nil)}
	ctx := context.Background()
	var calls atomic.Int32
	fn := func() (Message, error) {
		n := calls.Add(1)
		time.Sleep(150 * time.Millisecond)
		return Message{ID: fmt.Sprint("m", n), ChannelID: "general", Text: "hi", Attachments: []Attachment{},
			CreatedAt: time.Now().UTC().Format(time.RFC3339Nano)}, nil
	}
	var wg sync.WaitGroup
	results := make([]Message, 10)
	dups := make([]bool, 10)
	errs := make([]error, 10)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], dups[i], errs[i] = nodes[i%2].Dedup.Do(ctx, "alice\x00c1", dedupTTL, fn)
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("fn ran %d times, want once", calls.Load())
	}
	firsts := 0
	for i := range results {
		if errs[i] != nil || results[i].ID != "m1" {
			t.Fatalf("call %d: %+v %v", i, results[i], errs[i])
		}
		if !dups[i] {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d calls report themselves first, want 1", firsts)
	}
	if d := pttl(t, rd, nodes[0].Dedup.key("alice\x00c1")); d < 9*time.Minute || d > dedupTTL {
		t.Fatalf("dedup key PTTL %v, want about 10 min", d)
	}
	// A failure leaves nothing: the retry runs.
	boom := errors.New("backend down")
	if _, _, err := nodes[0].Dedup.Do(ctx, "alice\x00c2", dedupTTL, func() (Message, error) { return Message{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("failed fn: %v", err)
	}
	m, dup, err := nodes[1].Dedup.Do(ctx, "alice\x00c2", dedupTTL, fn)
	if err != nil || dup || m.ID != "m2" {
		t.Fatalf("retry after a failure: %+v %v %v", m, dup, err)
	}
}

// TestRedisMessages: append, page, get, edit, delete; the history is
// capped by count (bodies trimmed with the stream) and by age, and its
// keys expire.
func TestRedisMessages(t *testing.T) {
	rd := testutil.StartRedis(t)
	a := newTestStores(t, rd, "a", func(o *RedisStoreOptions) { o.HistorySize = 5; o.HistoryTTL = time.Hour })
	b := newTestStores(t, rd, "b", func(o *RedisStoreOptions) { o.HistorySize = 5; o.HistoryTTL = time.Hour })
	ctx := context.Background()
	now := time.Now().UTC()
	var ids []string
	for i := range 7 {
		m := Message{ID: fmt.Sprintf("%013d%06d", now.UnixMilli(), i), ChannelID: "general", UserID: "alice",
			Text: fmt.Sprint("t", i), CreatedAt: now.Format(time.RFC3339Nano)}
		if err := []*RedisStores{a, b}[i%2].Messages.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	page := func(s *RedisStores, before string, limit int) string {
		t.Helper()
		got, err := s.Messages.History(ctx, "general", before, limit)
		if err != nil {
			t.Fatal(err)
		}
		return idsOf(got)
	}
	if got, want := page(a, "", 50), fmt.Sprint(ids[2:]); got != want {
		t.Fatalf("history %s, want the last 5 %s", got, want)
	}
	if v, _ := rd.Do("HLEN", "sio:gw:h:{general}:msg"); v != "5" {
		t.Fatalf("%s bodies kept, want 5 (trimmed with the stream)", v)
	}
	if got, want := page(b, ids[5], 2), fmt.Sprint(ids[3:5]); got != want {
		t.Fatalf("before %s limit 2: %s, want %s", ids[5], got, want)
	}
	if _, err := a.Messages.History(ctx, "general", ids[0], 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("trimmed anchor: %v, want not found", err)
	}
	if got, err := a.Messages.History(ctx, "nowhere", "", 10); err != nil || len(got) != 0 {
		t.Fatalf("empty channel: %v %v", got, err)
	}
	m, err := b.Messages.Get(ctx, "general", ids[4])
	if err != nil || m.Text != "t4" || m.created.IsZero() || m.Attachments == nil {
		t.Fatalf("get: %+v %v", m, err)
	}
	edited := "2026-01-01T00:00:00Z"
	m.Text, m.EditedAt = "t4 edited", &edited
	if err := a.Messages.Update(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Messages.Get(ctx, "general", ids[4]); got.Text != "t4 edited" || got.EditedAt == nil {
		t.Fatalf("edit not seen: %+v", got)
	}
	if err := a.Messages.Update(ctx, Message{ID: "nope", ChannelID: "general"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if err := b.Messages.Delete(ctx, "general", ids[4]); err != nil {
		t.Fatal(err)
	}
	if err := b.Messages.Delete(ctx, "general", ids[4]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := a.Messages.Get(ctx, "general", ids[4]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted message: %v", err)
	}
	if got, want := page(a, "", 50), fmt.Sprint([]string{ids[2], ids[3], ids[5], ids[6]}); got != want {
		t.Fatalf("after delete: %s, want %s", got, want)
	}
	for _, k := range []string{"sio:gw:h:{general}:log", "sio:gw:h:{general}:msg"} {
		if d := pttl(t, rd, k); d <= 59*time.Minute || d > time.Hour {
			t.Fatalf("%s PTTL %v, want HISTORY_TTL", k, d)
		}
	}
}

// TestRedisMessagesExpireByAge: messages older than the TTL leave the
// history and cannot be edited; the keys of a quiet channel expire.
func TestRedisMessagesExpireByAge(t *testing.T) {
	rd := testutil.StartRedis(t)
	s := newTestStores(t, rd, "a", func(o *RedisStoreOptions) { o.HistoryTTL = time.Second })
	ctx := context.Background()
	now := time.Now().UTC()
	_ = s.Messages.Append(ctx, Message{ID: "1", ChannelID: "c", Text: "old", CreatedAt: now.Format(time.RFC3339Nano)})
	time.Sleep(700 * time.Millisecond)
	second := time.Now()
	_ = s.Messages.Append(ctx, Message{ID: "2", ChannelID: "c", Text: "new", CreatedAt: now.Format(time.RFC3339Nano)})
	time.Sleep(400 * time.Millisecond) // 1 is over 1.1 s old, 2 about 0.4 s
	got, err := s.Messages.History(ctx, "c", "", 10)
	if time.Since(second) < 900*time.Millisecond && (err != nil || idsOf(got) != "[2]") {
		t.Fatalf("history %s %v, want [2]", idsOf(got), err)
	}
	if _, err := s.Messages.Get(ctx, "c", "1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired message: %v", err)
	}
	testutil.CheckFor(t, 3*time.Second, 50*time.Millisecond, func() error {
		if v, _ := rd.Do("EXISTS", "sio:gw:h:{c}:log", "sio:gw:h:{c}:msg"); v != "0" {
			return fmt.Errorf("%s history keys left after the TTL", v)
		}
		return nil
	})
}

func presences(ps []Presence) string {
	out := ""
	for _, p := range ps {
		out += p.UserID + ":" + p.Status + " "
	}
	return out
}

// TestRedisPresenceAcrossNodes: a user is online while any node has a
// socket of theirs, in a channel while any of those sockets is in it; the
// last socket anywhere makes them offline.
func TestRedisPresenceAcrossNodes(t *testing.T) {
	rd := testutil.StartRedis(t)
	a, b := newTestStores(t, rd, "a", nil).Presence, newTestStores(t, rd, "b", nil).Presence
	ctx := context.Background()
	now := time.Now()
	check := func(first bool, err error, want bool, what string) {
		t.Helper()
		if err != nil || first != want {
			t.Fatalf("%s: %v %v, want %v", what, first, err, want)
		}
	}
	p, first, err := a.Connect(ctx, "alice", "Alice", now)
	check(first, err, true, "alice's first socket (a)")
	if p.Name != "Alice" || p.Status != "online" || p.LastActiveAt == "" {
		t.Fatalf("presence %+v", p)
	}
	_, first, err = b.Connect(ctx, "alice", "Alice", now)
	check(first, err, false, "alice's second socket (b)")
	_, first, err = b.Connect(ctx, "bob", "Bob", now)
	check(first, err, true, "bob")
	first, err = a.Join(ctx, "alice", "general")
	check(first, err, true, "alice joins on a")
	first, err = b.Join(ctx, "alice", "general")
	check(first, err, false, "alice joins on b too")
	first, err = b.Join(ctx, "alice", "random")
	check(first, err, true, "alice joins random on b")
	first, err = b.Join(ctx, "bob", "general")
	check(first, err, true, "bob joins")
	if first, err := a.Join(ctx, "carol", "general"); first || err != nil {
		t.Fatalf("join of an unknown user: %v %v", first, err)
	}
	if p, ok, err := b.SetStatus(ctx, "alice", "away", now); !ok || err != nil || p.Status != "away" {
		t.Fatalf("status: %+v %v %v", p, ok, err)
	}
	if _, ok, _ := b.SetStatus(ctx, "nobody", "away", now); ok {
		t.Fatal("status of an unknown user")
	}
	online, err := a.Online(ctx, "general")
	if err != nil || presences(online) != "alice:away bob:online " {
		t.Fatalf("online %v %v", presences(online), err)
	}
	if chans, err := a.Channels(ctx, "alice"); err != nil || fmt.Sprint(chans) != "[general random]" {
		t.Fatalf("alice's channels %v %v (random is on b only)", chans, err)
	}
	last, err := a.Leave(ctx, "alice", "general")
	check(last, err, false, "alice leaves general on a (still in on b)")
	last, err = b.Leave(ctx, "alice", "random")
	check(last, err, true, "alice leaves random")
	_, last, _, err = a.Disconnect(ctx, "alice", now)
	check(last, err, false, "alice's socket on a goes")
	if p, ok, _ := a.Get(ctx, "alice"); !ok || p.Status != "away" {
		t.Fatalf("alice after one socket: %+v %v", p, ok)
	}
	p, last, chans, err := b.Disconnect(ctx, "alice", now)
	check(last, err, true, "alice's last socket (b)")
	if p.Status != "offline" || fmt.Sprint(chans) != "[general]" {
		t.Fatalf("offline %+v in %v", p, chans)
	}
	if _, ok, _ := a.Get(ctx, "alice"); ok {
		t.Fatal("offline user still present")
	}
	if online, _ := b.Online(ctx, "general"); presences(online) != "bob:online " {
		t.Fatalf("online after alice left: %s", presences(online))
	}
	if _, last, _, err := a.Disconnect(ctx, "bob", now); last || err != nil {
		t.Fatalf("disconnect of a socket a never had: %v %v", last, err)
	}
}

// TestRedisPresenceReapsADeadNode: a node that stops its heartbeat is
// reaped by another once its key expired: its users with no other socket
// go offline (reported with their channels, once), the others stay; the
// node, back, finds its heartbeat lost and rewrites its counts.
func TestRedisPresenceReapsADeadNode(t *testing.T) {
	rd := testutil.StartRedis(t)
	a, b := newTestStores(t, rd, "a", nil).Presence, newTestStores(t, rd, "b", nil).Presence
	ctx := context.Background()
	now := time.Now()
	for _, n := range []*RedisPresence{a, b} {
		if lost, err := n.Heartbeat(ctx); !lost || err != nil {
			t.Fatalf("first heartbeat: lost %v %v, want true (nothing yet)", lost, err)
		}
	}
	if lost, _ := a.Heartbeat(ctx); lost {
		t.Fatal("second heartbeat reports lost")
	}
	_, _, _ = a.Connect(ctx, "alice", "Alice", now)
	_, _ = a.Join(ctx, "alice", "general")
	_, _ = a.Join(ctx, "alice", "random")
	_, _, _ = a.Connect(ctx, "bob", "Bob", now)
	_, _ = a.Join(ctx, "bob", "general")
	_, _, _ = b.Connect(ctx, "bob", "Bob", now)
	if gone, err := b.Reap(ctx); len(gone) != 0 || err != nil {
		t.Fatalf("reaped a live node: %+v %v", gone, err)
	}
	// a dies: no heartbeat for 3 intervals.
	time.Sleep(3*a.HeartbeatInterval() + 100*time.Millisecond)
	_, _ = b.Heartbeat(ctx)
	gone, err := b.Reap(ctx)
	if err != nil || len(gone) != 1 || gone[0].Presence.UserID != "alice" || gone[0].Presence.Status != "offline" ||
		fmt.Sprint(gone[0].Channels) != "[general random]" {
		t.Fatalf("reaped %+v %v, want alice offline in general and random", gone, err)
	}
	if again, _ := b.Reap(ctx); len(again) != 0 {
		t.Fatalf("reaped twice: %+v", again)
	}
	if p, ok, _ := b.Get(ctx, "bob"); !ok || p.Status != "online" {
		t.Fatal("bob, still on b, went too")
	}
	if online, _ := b.Online(ctx, "general"); len(online) != 0 {
		t.Fatalf("general still lists %s (bob is there on a only)", presences(online))
	}
	if v, _ := rd.Do("ZRANGE", "sio:gw:{presence}:nodes", "0", "-1"); v != "b" {
		t.Fatalf("nodes %q, want b alone", v)
	}
	// a comes back: its heartbeat was lost, it rewrites its counts.
	lost, err := a.Heartbeat(ctx)
	if !lost || err != nil {
		t.Fatalf("a's heartbeat after death: lost %v %v", lost, err)
	}
	gone, back, err := a.Reconcile(ctx, []NodeUser{
		{UserID: "alice", Name: "Alice", Sockets: 1, Channels: map[string]int{"general": 1}},
		{UserID: "bob", Name: "Bob", Sockets: 1, Channels: map[string]int{"general": 1}},
	})
	if err != nil || len(gone) != 0 || len(back) != 1 || back[0].Presence.UserID != "alice" || fmt.Sprint(back[0].Channels) != "[general]" {
		t.Fatalf("reconcile: gone %+v back %+v %v", gone, back, err)
	}
	if online, _ := b.Online(ctx, "general"); presences(online) != "alice:online bob:online " {
		t.Fatalf("online after reconcile: %s", presences(online))
	}
	// Reconcile drops what a no longer holds: bob's socket there went.
	gone, _, err = a.Reconcile(ctx, []NodeUser{{UserID: "alice", Name: "Alice", Sockets: 1}})
	if err != nil || len(gone) != 0 {
		t.Fatalf("bob is still on b: gone %+v %v", gone, err)
	}
	if online, _ := b.Online(ctx, "general"); len(online) != 0 {
		t.Fatalf("general after the second reconcile: %s", presences(online))
	}
	gone, _, _ = a.Reconcile(ctx, nil)
	if len(gone) != 1 || gone[0].Presence.UserID != "alice" {
		t.Fatalf("reconcile to nothing: gone %+v", gone)
	}
}

// TestRedisStoresFailFastAndRecover: with Redis gone calls fail within the
// timeout, then at once through the open breaker (an unavailable ack);
// Redis back, they work again by themselves. Stores started while Redis is
// down connect when it comes up.
func TestRedisStoresFailFastAndRecover(t *testing.T) {
	rd := testutil.StartRedis(t)
	s := newTestStores(t, rd, "a", func(o *RedisStoreOptions) { o.Timeout = 300 * time.Millisecond })
	ctx := context.Background()
	rd.Kill()
	start := time.Now()
	for i := range 5 {
		if _, _, err := s.Bans.Get(ctx, "bob"); !errors.Is(err, ErrRedisDown) {
			t.Fatalf("call %d with Redis down: %v", i, err)
		}
	}
	_, _, err := s.Presence.Get(ctx, "bob")
	if !errors.Is(err, limits.ErrOpen) || storeError(err).Code != "unavailable" {
		t.Fatalf("sixth call: %v, want the open breaker", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("failing took %v", d)
	}
	if st := s.Breaker().Stats(); st.State != limits.Open {
		t.Fatalf("breaker %v", st.State)
	}
	rd.Start(t)
	testutil.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		_, _, err := s.Bans.Get(ctx, "bob")
		return err
	})

	// A node starting while Redis is down.
	rd.Kill()
	late, err := NewRedisStores(RedisStoreOptions{URL: rd.URL(), NodeID: "late", Logger: quiet(), BreakerCooldown: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if err := late.Bans.Put(ctx, Ban{UserID: "x"}); !errors.Is(err, ErrRedisDown) {
		t.Fatalf("before Redis: %v", err)
	}
	rd.Start(t)
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		return late.Bans.Put(ctx, Ban{UserID: "x"})
	})
	if _, err := NewRedisStores(RedisStoreOptions{URL: "http://nope"}); err == nil {
		t.Fatal("a bad URL was accepted")
	}
}
