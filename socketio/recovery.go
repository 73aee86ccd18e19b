package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"sync"
	"time"

	"sio/codec"
	"sio/engine"
)

// recoveryLog is the MemoryAdapter's connection state recovery: the offset
// counter, a log of recent packets and the sessions of recently
// disconnected sockets.
//
// Offsets have a fixed width, so a packet is encoded with a placeholder
// offset outside the lock and the lock only covers what must be atomic for
// replay to neither repeat nor skip a packet: taking the next offset,
// writing it into the encoded bytes, logging the packet and handing it to
// the event loops (every loop then delivers in offset order). Each of those
// is O(1) or O(loops); the fan-out grouping, O(recipients), is done before.
//
// The log is a ring bounded by age, count and bytes, trimmed as it is
// appended to (O(evicted)); sessions expire from the front of a FIFO when
// one is persisted or restored, never on the emit path.
type recoveryLog struct {
	maxAge      time.Duration
	maxPackets  int
	maxBytes    int
	maxSessions int
	base        time.Time
	prefix      string // per adapter, so that another node's offsets are told apart

	mu    sync.Mutex
	next  uint64 // the counter the next packet takes
	ring  []logEntry
	head  int
	n     int
	bytes int

	sessions map[string]*persisted // by pid
	order    []*persisted          // by time of persistence; stale entries are skipped
	ohead    int
}

type logEntry struct {
	seq           uint64
	at            time.Duration // since base
	rooms, except []Room
	p             *Packet
	size          int
}

type persisted struct {
	s  *Session
	at time.Duration
}

// offsetDigits is the width of an offset's counter (base 36: 2^64 fits).
const offsetDigits = 13

func newRecoveryLog(r *Recovery) *recoveryLog {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &recoveryLog{
		maxAge: r.MaxDisconnectionDuration, maxPackets: r.MaxPackets, maxBytes: r.MaxBytes, maxSessions: r.MaxSessions,
		base: time.Now(), prefix: base64.RawURLEncoding.EncodeToString(b[:]),
		sessions: make(map[string]*persisted), next: 1,
	}
}

// broadcast gives p an offset, logs it and delivers it through a.
func (r *recoveryLog) broadcast(a *MemoryAdapter, p *Packet, opts *BroadcastOptions) {
	data := make([]any, len(p.Data)+1)
	copy(data, p.Data)
	var ph [len("xxxxxxxx-") + offsetDigits]byte
	copy(ph[:], r.prefix)
	ph[len(r.prefix)] = '-'
	for i := len(r.prefix) + 1; i < len(ph); i++ {
		ph[i] = '0'
	}
	data[len(data)-1] = string(ph[:])
	if pr := a.nsp.srv.opts.Parser; pr != nil {
		r.broadcastParsed(a, pr, data, opts)
		return
	}
	text, att, err := encodeEvent(p.Nsp, -1, data, false)
	if err != nil {
		a.nsp.srv.opts.Logger.Warn("broadcast: cannot encode arguments", "nsp", p.Nsp, "err", err)
		return
	}
	prep := engine.NewPrepared(text, att)
	// The placeholder digits end the text, before `"]`.
	inText := len(text) - 2 - offsetDigits
	wsAt := codec.FrameHeaderLen(len(text)+1) + 1 + inText
	pollAt := 1 + inText
	lp := &Packet{Nsp: p.Nsp, Data: data, ID: -1}
	lp.prepared.Store(prep)
	prep = opts.Flags.prepared(prep) // shares the bytes: the offset patched below reaches both

	var sel selection
	a.mu.RLock()
	a.selectLocked(opts, &sel)
	a.mu.RUnlock()
	batches := a.nsp.group(prep, data, sel.each, false, nil)

	var digits [offsetDigits]byte
	r.mu.Lock()
	seq := r.next
	r.next++
	s := strconv.AppendUint(digits[:0], seq, 36)
	pad := offsetDigits - len(s)
	copy(digits[pad:], s)
	for i := range pad {
		digits[i] = '0'
	}
	copy(prep.WS[wsAt:], digits[:])
	copy(prep.Polling[pollAt:], digits[:])
	data[len(data)-1] = r.prefix + "-" + string(digits[:])
	r.append(logEntry{
		seq: seq, at: time.Since(r.base), p: lp, size: len(prep.WS),
		rooms: append([]Room(nil), opts.Rooms...), except: append([]Room(nil), opts.Except...),
	})
	a.nsp.post(batches)
	r.mu.Unlock()
}

// append logs e, dropping the oldest entries past the bounds. mu is held.
func (r *recoveryLog) append(e logEntry) {
	for r.n > 0 && (r.n >= r.maxPackets || r.bytes+e.size > r.maxBytes || e.at-r.ring[r.head].at > r.maxAge) {
		r.dropOldest()
	}
	if r.n == len(r.ring) {
		nr := make([]logEntry, max(64, 2*len(r.ring)))
		for i := range r.n {
			nr[i] = r.ring[(r.head+i)%len(r.ring)]
		}
		r.ring, r.head = nr, 0
	}
	r.ring[(r.head+r.n)%len(r.ring)] = e
	r.n++
	r.bytes += e.size
}

func (r *recoveryLog) dropOldest() {
	r.bytes -= r.ring[r.head].size
	r.ring[r.head] = logEntry{}
	r.head = (r.head + 1) % len(r.ring)
	r.n--
}

// persist keeps a disconnected socket's session.
func (r *recoveryLog) persist(s *Session) {
	now := time.Since(r.base)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireSessions(now)
	ps := &persisted{s: s, at: now}
	r.sessions[s.PID] = ps
	r.order = append(r.order, ps)
	for len(r.sessions) > r.maxSessions {
		r.popSession()
	}
}

// expireSessions forgets the sessions older than the recovery window, from
// the front of the FIFO. mu is held.
func (r *recoveryLog) expireSessions(now time.Duration) {
	for r.ohead < len(r.order) && now-r.order[r.ohead].at > r.maxAge {
		r.popSession()
	}
}

func (r *recoveryLog) popSession() {
	ps := r.order[r.ohead]
	r.order[r.ohead] = nil
	r.ohead++
	if r.sessions[ps.s.PID] == ps {
		delete(r.sessions, ps.s.PID)
	}
	if r.ohead > 1024 && r.ohead*2 > len(r.order) { // compact
		r.order = append(r.order[:0], r.order[r.ohead:]...)
		r.ohead = 0
	}
}

// restore takes back a session and the packets it missed after offset.
func (r *recoveryLog) restore(pid, offset string) (*Session, []*Packet) {
	now := time.Since(r.base)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireSessions(now)
	ps := r.sessions[pid]
	if ps == nil {
		return nil, nil
	}
	seq, ok := r.parse(offset)
	if !ok {
		return nil, nil
	}
	for r.n > 0 && now-r.ring[r.head].at > r.maxAge {
		r.dropOldest()
	}
	first := r.next // the oldest logged packet's counter
	if r.n > 0 {
		first = r.ring[r.head].seq
	}
	// The client's offset must be logged, or be the one just before the
	// oldest logged: otherwise packets may be gone and a fresh session it is.
	if seq+1 < first || seq >= r.next {
		return nil, nil
	}
	delete(r.sessions, pid)
	s := ps.s
	in := make(map[Room]bool, len(s.Rooms))
	for _, rm := range s.Rooms {
		in[rm] = true
	}
	var missed []*Packet
	for i := int(seq + 1 - first); i < r.n; i++ {
		e := &r.ring[(r.head+i)%len(r.ring)]
		if reaches(e.rooms, e.except, in) {
			missed = append(missed, e.p)
		}
	}
	return s, missed
}

// parse reads an offset this log gave out.
func (r *recoveryLog) parse(offset string) (uint64, bool) {
	if len(offset) != len(r.prefix)+1+offsetDigits || offset[:len(r.prefix)] != r.prefix || offset[len(r.prefix)] != '-' {
		return 0, false
	}
	seq, err := strconv.ParseUint(offset[len(r.prefix)+1:], 36, 64)
	return seq, err == nil
}

// reaches tells whether a logged broadcast reached a socket in rooms.
func reaches(rooms, except []Room, in map[Room]bool) bool {
	for _, r := range except {
		if in[r] {
			return false
		}
	}
	if len(rooms) == 0 {
		return true
	}
	for _, r := range rooms {
		if in[r] {
			return true
		}
	}
	return false
}
