package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sio/internal/testutil"
)

// TestRedisStoresOnRedisCluster: every store works on a 3-master Redis
// Cluster, where multi-key commands and scripts must keep their keys in one
// slot (the hash tags of the key layout), shared by two nodes.
func TestRedisStoresOnRedisCluster(t *testing.T) {
	rc := testutil.StartRedisCluster(t, 3)
	node := func(id string) *RedisStores {
		s, err := NewRedisStores(RedisStoreOptions{URL: rc.URL(), NodeID: id, Heartbeat: 100 * time.Millisecond,
			Timeout: 2 * time.Second, BreakerCooldown: 300 * time.Millisecond, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			_, _, err := s.Bans.Get(context.Background(), "probe")
			return err
		})
		return s
	}
	a, b := node("a"), node("b")
	ctx := context.Background()
	now := time.Now()

	// Bans made on one node hold on the other.
	if err := a.Bans.Put(ctx, Ban{UserID: "mallory", Reason: "spam", Until: now.Add(time.Hour), By: "mod"}); err != nil {
		t.Fatal(err)
	}
	if ban, ok, err := b.Bans.Get(ctx, "mallory"); err != nil || !ok || ban.Reason != "spam" {
		t.Fatalf("ban seen from b: %+v %v %v", ban, ok, err)
	}
	// Dedup: the second node gets the first result.
	mk := func(id string) func() (Message, error) {
		return func() (Message, error) { return Message{ID: id, ChannelID: "c1", UserID: "alice", Text: id}, nil }
	}
	if _, dup, err := a.Dedup.Do(ctx, "alice:m1", time.Minute, mk("first")); err != nil || dup {
		t.Fatalf("first send: %v %v", dup, err)
	}
	if m, dup, err := b.Dedup.Do(ctx, "alice:m1", time.Minute, mk("second")); err != nil || !dup || m.ID != "first" {
		t.Fatalf("retry on b: %+v %v %v", m, dup, err)
	}
	// History written on a, edited and read on b, in several channels (slots).
	for ch := range 5 {
		cid := fmt.Sprintf("ch%d", ch)
		for i := range 3 {
			m := Message{ID: fmt.Sprintf("%s-m%d", cid, i), ChannelID: cid, UserID: "alice", Text: "hi",
				Attachments: []Attachment{}, CreatedAt: now.UTC().Format(time.RFC3339)}
			if err := a.Messages.Append(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		m, err := b.Messages.Get(ctx, cid, cid+"-m1")
		if err != nil {
			t.Fatal(err)
		}
		m.Text = "edited"
		if err := b.Messages.Update(ctx, m); err != nil {
			t.Fatal(err)
		}
		if err := b.Messages.Delete(ctx, cid, cid+"-m0"); err != nil {
			t.Fatal(err)
		}
		h, err := a.Messages.History(ctx, cid, "", 50)
		if err != nil || len(h) != 2 || h[0].Text != "edited" || h[1].ID != cid+"-m2" {
			t.Fatalf("history of %s: %+v %v", cid, h, err)
		}
	}
	// Presence across the two nodes: online while either has a socket.
	if _, first, err := a.Presence.Connect(ctx, "alice", "Alice", now); err != nil || !first {
		t.Fatalf("connect on a: %v %v", first, err)
	}
	if _, first, err := b.Presence.Connect(ctx, "alice", "Alice", now); err != nil || first {
		t.Fatalf("connect on b: %v %v", first, err)
	}
	if _, err := a.Presence.Join(ctx, "alice", "c1"); err != nil {
		t.Fatal(err)
	}
	if on, err := b.Presence.Online(ctx, "c1"); err != nil || len(on) != 1 || on[0].UserID != "alice" {
		t.Fatalf("online from b: %+v %v", on, err)
	}
	if _, last, _, err := a.Presence.Disconnect(ctx, "alice", now); err != nil || last {
		t.Fatalf("disconnect on a: last=%v %v", last, err)
	}
	if _, last, _, err := b.Presence.Disconnect(ctx, "alice", now); err != nil || !last {
		t.Fatalf("disconnect on b: last=%v %v", last, err)
	}
}
