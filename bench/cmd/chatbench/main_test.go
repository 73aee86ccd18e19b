package main

import (
	"strings"
	"testing"

	"sio/bench/internal/hist"
)

// The server's payloads as the gateway writes them (docs/EVENTS.md).
func TestParsers(t *testing.T) {
	msg := []byte(`["message:new",{"id":"1796436569079000001","channelId":"c3","userId":"u1234","text":"message 2 from u1234: hi ts=987654321","attachments":[],"createdAt":"2026-12-05T02:09:29.079727823Z","editedAt":null}]`)
	if got := userIndex(msg); got != 1234 {
		t.Errorf("userIndex(message:new) = %d, want 1234", got)
	}
	if ts, ok := sendTime(msg); !ok || ts != 987654321 {
		t.Errorf("sendTime = %d, %v", ts, ok)
	}
	typing := []byte(`["typing:update",{"channelId":"c3","typing":true,"userId":"u7"}]`)
	if got := userIndex(typing); got != 7 {
		t.Errorf("userIndex(typing:update) = %d, want 7", got)
	}
	for _, bad := range []string{`{"userId":"alice"}`, `{"userId":"u"}`, `{"userId":"u12x"}`, `{}`} {
		if got := userIndex([]byte(bad)); got != -1 {
			t.Errorf("userIndex(%s) = %d, want -1", bad, got)
		}
	}
	if _, ok := sendTime([]byte(`{"text":"no time"}`)); ok {
		t.Error("sendTime found a time in a text without one")
	}
	nack := []byte(`12[{"error":{"code":"rate_limited","message":"too many message:send events","retryAfterMs":41250},"ok":false}]`)
	if got := field(nack, "code"); got != "rate_limited" {
		t.Errorf("field(code) = %q", got)
	}
	if got := field(nack, "nope"); got != "?" {
		t.Errorf("field(nope) = %q", got)
	}
}

// An ack is matched to its event by id, counted ok or as an error, and
// only events sent in the window count.
func TestAck(t *testing.T) {
	r := &run{}
	r.t0.Store(1)
	u := &user{r: r, sh: &shard{}, acks: map[int]pending{}, joinAck: make(chan bool, 1)}
	u.acks[0] = pending{k: kSend, at: mono(), inWn: true}
	u.acks[1] = pending{k: kTyping, at: mono(), inWn: true}
	u.acks[2] = pending{k: kPresence, at: mono(), inWn: false}
	u.acks[3] = pending{k: kJoin, at: mono()}
	r.pendingAcks.Store(4)
	u.handle([]byte(`430[{"message":{"id":"1"},"ok":true}]`))
	u.handle([]byte(`431[{"error":{"code":"rate_limited"},"ok":false}]`))
	u.handle([]byte(`432[{"ok":true,"presence":{}}]`))
	u.handle([]byte(`433[{"channelId":"c0","ok":true,"online":[]}]`))
	u.handle([]byte(`439[{"ok":true}]`))
	if r.ackOK[kSend].Load() != 1 || r.ackErr[kTyping].Load() != 1 || r.ackOK[kPresence].Load() != 0 {
		t.Errorf("ok send %d, err typing %d, ok presence %d", r.ackOK[kSend].Load(), r.ackErr[kTyping].Load(), r.ackOK[kPresence].Load())
	}
	if !<-u.joinAck {
		t.Error("join ack not reported ok")
	}
	if r.pendingAcks.Load() != 0 || len(u.acks) != 0 {
		t.Errorf("pending %d, acks left %v", r.pendingAcks.Load(), u.acks)
	}
	errs := r.errorsCopy()
	if errs["ack error: typing:start: rate_limited"] != 1 || errs["proto: ack for an unknown id"] != 1 {
		t.Errorf("errors %v", errs)
	}
	if u.sh.ack[kSend].Count() != 1 || u.sh.join.Count() != 1 {
		t.Error("latencies not recorded")
	}
}

func TestMarkdown(t *testing.T) {
	r := &Result{Config: Config{Users: 2000, ChannelSize: 50, Channels: 40}, Window: Window{Seconds: 60},
		Acks: []AckStat{{Event: "message:send", Sent: 10, OK: 10, Latency: hist.New()}}}
	for _, n := range delivNames {
		r.Deliveries = append(r.Deliveries, Delivery{Event: n, Expected: 49, Received: 49, Latency: hist.New()})
	}
	md := markdown([]*Result{r, r})
	if !strings.Contains(md, "| | 2,000 users | 2,000 users |") || !strings.Contains(md, "| completeness | 100.000 % | 100.000 % |") {
		t.Errorf("markdown:\n%s", md)
	}
}
