package redisadapter

import (
	"context"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// outbox holds what this node publishes until Redis has it. Event loops
// hand messages over with put (never blocking); one goroutine publishes
// them in order, in pipelined batches, through the publish breaker. While
// Redis is away messages wait: at most QueueLimit per channel (the oldest
// of a full channel goes for a new one), none older than QueueTTL, and at
// most maxQueuedBytes in all; every drop is counted. A message leaves the
// outbox once Redis acknowledged its PUBLISH, so a flush after an outage
// sends each one once (one whose connection died after Redis received it
// but before the reply may go twice: the reply is all rueidis can go by).
type outbox struct {
	c      *Cluster
	signal chan struct{}

	mu      sync.Mutex
	fifo    []*outMsg // every queued message, in order (dropped ones skipped)
	head    int
	perChan map[string]*chanQueue
	n       int // live messages
	bytes   int
}

type outMsg struct {
	channel string
	data    []byte
	at      time.Time
	dropped bool
}

type chanQueue struct {
	msgs []*outMsg // this channel's live messages, oldest first
}

// maxQueuedBytes bounds the outbox's memory across channels.
const maxQueuedBytes = 64 << 20

// publishBatch is the most messages one pipelined round trip carries.
const publishBatch = 256

func newOutbox(c *Cluster) *outbox {
	return &outbox{c: c, signal: make(chan struct{}, 1), perChan: map[string]*chanQueue{}}
}

// put queues data for channel. It never blocks.
func (o *outbox) put(channel string, data []byte) {
	m := &outMsg{channel: channel, data: data, at: time.Now()}
	var dropped uint64
	o.mu.Lock()
	q := o.perChan[channel]
	if q == nil {
		q = &chanQueue{}
		o.perChan[channel] = q
	}
	if len(q.msgs) >= o.c.opts.QueueLimit {
		o.dropLocked(q.msgs[0])
		dropped++
	}
	for o.bytes+len(data) > maxQueuedBytes && o.n > 0 {
		o.dropLocked(o.oldestLocked())
		dropped++
	}
	q = o.perChan[channel] // dropLocked may have removed an empty queue
	if q == nil {
		q = &chanQueue{}
		o.perChan[channel] = q
	}
	q.msgs = append(q.msgs, m)
	o.fifo = append(o.fifo, m)
	o.n++
	o.bytes += len(data)
	o.mu.Unlock()
	if dropped > 0 {
		o.c.drop(dropQueueFull, dropped)
	}
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

func (o *outbox) oldestLocked() *outMsg {
	for _, m := range o.fifo[o.head:] {
		if !m.dropped {
			return m
		}
	}
	return nil
}

// dropLocked takes m out of its channel's queue (it stays in fifo, marked).
func (o *outbox) dropLocked(m *outMsg) {
	if m == nil || m.dropped {
		return
	}
	m.dropped = true
	o.n--
	o.bytes -= len(m.data)
	q := o.perChan[m.channel]
	for i, x := range q.msgs {
		if x == m {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	if len(q.msgs) == 0 {
		delete(o.perChan, m.channel)
	}
}

func (o *outbox) depth() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// peek returns up to max of the oldest live messages, dropping (and
// counting) expired ones first, and compacting fifo.
func (o *outbox) peek(max int) []*outMsg {
	o.mu.Lock()
	defer o.mu.Unlock()
	cutoff := time.Now().Add(-o.c.opts.QueueTTL)
	var expired uint64
	for o.head < len(o.fifo) {
		m := o.fifo[o.head]
		if m.dropped {
			o.fifo[o.head] = nil
			o.head++
			continue
		}
		if m.at.Before(cutoff) {
			o.dropLocked(m)
			expired++
			continue
		}
		break
	}
	if o.head > 1024 && o.head*2 > len(o.fifo) {
		o.fifo = append(o.fifo[:0], o.fifo[o.head:]...)
		o.head = 0
	}
	if expired > 0 {
		o.c.drop(dropExpired, expired)
	}
	var batch []*outMsg
	for _, m := range o.fifo[o.head:] {
		if len(batch) == max {
			break
		}
		if !m.dropped {
			batch = append(batch, m)
		}
	}
	return batch
}

// done removes published messages.
func (o *outbox) done(ms []*outMsg) {
	o.mu.Lock()
	for _, m := range ms {
		o.dropLocked(m)
	}
	o.mu.Unlock()
}

// run publishes until the cluster closes: whenever messages are queued and
// a session is live and the breaker lets calls through.
func (o *outbox) run() {
	c := o.c
	defer c.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond) // expiry, breaker probes, a session coming back
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-o.signal:
		case <-tick.C:
		}
		for o.flush() {
		}
	}
}

// flush publishes one batch; it reports whether to go on at once.
func (o *outbox) flush() bool {
	c := o.c
	batch := o.peek(publishBatch)
	if len(batch) == 0 {
		return false
	}
	pub := c.pubClient()
	if pub == nil {
		return false // disconnected: wait for the session
	}
	if c.breaker.Allow() != nil {
		return false
	}
	cmds := make(rueidis.Commands, len(batch))
	for i, m := range batch {
		if c.opts.Sharded {
			cmds[i] = pub.B().Spublish().Channel(m.channel).Message(rueidis.BinaryString(m.data)).Build()
		} else {
			cmds[i] = pub.B().Publish().Channel(m.channel).Message(rueidis.BinaryString(m.data)).Build()
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	res := pub.DoMulti(ctx, cmds...)
	cancel()
	var sent []*outMsg
	var firstErr error
	for i, r := range res {
		if err := r.Error(); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		sent = append(sent, batch[i])
	}
	o.done(sent)
	c.published.Add(uint64(len(sent)))
	c.breaker.Done(firstErr)
	if firstErr != nil {
		c.setLastErr(firstErr)
		return false
	}
	return true
}
