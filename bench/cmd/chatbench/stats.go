package main

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"sio/bench/internal/hist"
)

// Delivery kinds: the server → client events the load causes.
const (
	dMsg       = iota // message:new
	dTypingOn         // typing:update {typing: true}
	dTypingOff        // typing:update {typing: false}
	dPresence         // presence:update
	nDeliv
)

var delivNames = [nDeliv]string{"message:new", "typing:update (true)", "typing:update (false)", "presence:update"}

// Phases of a run.
const (
	phaseSetup int32 = iota
	phaseMeasure
	phaseDrain
	phaseDone
)

var base = time.Now()

// mono is the monotonic clock of this process in ns; senders put it in
// their messages and receivers, in the same process, subtract it.
func mono() int64 { return int64(time.Since(base)) }

// shard is a set of histograms a group of users records into (hist.H is
// not safe for concurrent use; a mutex per shard keeps contention low).
type shard struct {
	mu        sync.Mutex
	handshake hist.H
	join      hist.H
	ack       [nKinds]hist.H
	deliv     [nDeliv]hist.H
	// typing:update false at least typingSplit after its typing:start:
	// ended by the server's timeout (5 s), not by typing:stop (1–2 s).
	typingTimeout hist.H
	// sendIv is message:send's ack latency since the last sample.
	sendIv hist.H
}

const typingSplit = int64(4 * time.Second)

func (s *shard) record(h *hist.H, v int64) {
	s.mu.Lock()
	h.Record(v)
	s.mu.Unlock()
}

const nShards = 32

// counters are the run's figures shared by every user goroutine.
type counters struct {
	phase       atomic.Int32
	t0, tEnd    atomic.Int64 // mono() bounds of the measured window
	pendingAcks atomic.Int64

	sent     [nKinds]atomic.Int64 // emitted inside the window
	ackOK    [nKinds]atomic.Int64
	ackErr   [nKinds]atomic.Int64
	expected [nDeliv]atomic.Int64
	recv     [nDeliv]atomic.Int64
	other    atomic.Int64 // server events not caused by the window's load (joins, late, ...)

	emu    sync.Mutex
	errors map[string]int64
}

func (c *counters) errorf(kind string) { c.errorsAdd(kind, 1) }

func (c *counters) errorsAdd(kind string, n int64) {
	c.emu.Lock()
	if c.errors == nil {
		c.errors = make(map[string]int64)
	}
	c.errors[kind] += n
	c.emu.Unlock()
}

func (c *counters) errorsCopy() map[string]int64 {
	c.emu.Lock()
	defer c.emu.Unlock()
	out := make(map[string]int64, len(c.errors))
	for k, v := range c.errors {
		out[k] = v
	}
	return out
}

// interval merges and resets every shard's sendIv.
func interval(shards []*shard) *hist.H {
	out := hist.New()
	for _, s := range shards {
		s.mu.Lock()
		out.Merge(&s.sendIv)
		s.sendIv.Reset()
		s.mu.Unlock()
	}
	return out
}

// merged folds every shard's histograms into one shard.
func merged(shards []*shard) *shard {
	out := &shard{}
	for _, s := range shards {
		s.mu.Lock()
		out.handshake.Merge(&s.handshake)
		out.join.Merge(&s.join)
		for k := range s.ack {
			out.ack[k].Merge(&s.ack[k])
		}
		for k := range s.deliv {
			out.deliv[k].Merge(&s.deliv[k])
		}
		out.typingTimeout.Merge(&s.typingTimeout)
		s.mu.Unlock()
	}
	return out
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
