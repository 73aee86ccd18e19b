package gateway

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// The gateway keeps its state behind these small interfaces so that a
// cluster implementation (Redis) can replace the in-memory ones of a single
// node. Every method may be called from any goroutine; none is called on an
// event loop (the gateway runs them on a socket's worker), so an
// implementation may block on the network, bounded by ctx.

// ErrNotFound is returned for an unknown message, ban or history anchor.
var ErrNotFound = errors.New("not found")

// Attachment is a file attached to a message (stored elsewhere: only its
// https URL travels).
type Attachment struct {
	URL      string `json:"url"`
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
	Size     int64  `json:"size"`
}

// Message is a chat message as clients see it (docs/EVENTS.md).
type Message struct {
	ID          string       `json:"id"`
	ChannelID   string       `json:"channelId"`
	UserID      string       `json:"userId"`
	Text        string       `json:"text"`
	Attachments []Attachment `json:"attachments"`
	CreatedAt   string       `json:"createdAt"` // RFC 3339, UTC
	EditedAt    *string      `json:"editedAt"`  // null until edited

	created time.Time
}

// MessageStore keeps each channel's recent history, bounded by count and
// age.
type MessageStore interface {
	Append(ctx context.Context, m Message) error
	Get(ctx context.Context, channelID, id string) (Message, error)
	Update(ctx context.Context, m Message) error
	Delete(ctx context.Context, channelID, id string) error
	// History returns up to limit messages, oldest first: the newest ones
	// before the message before ("" = the newest of all). ErrNotFound when
	// before is not in the history.
	History(ctx context.Context, channelID, before string, limit int) ([]Message, error)
	// Cleanup drops what is older than the store's TTL; it returns how
	// many messages it removed.
	Cleanup(now time.Time) int
}

// Ban refuses a user's connections until Until (zero: permanent).
type Ban struct {
	UserID string
	Reason string
	Until  time.Time
	By     string
}

// Active reports whether the ban still holds at now.
func (b Ban) Active(now time.Time) bool { return b.Until.IsZero() || now.Before(b.Until) }

// BanStore keeps the bans.
type BanStore interface {
	Put(ctx context.Context, b Ban) error
	// Remove lifts a ban; it reports whether there was one.
	Remove(ctx context.Context, userID string) (bool, error)
	// Get returns the user's active ban, if any.
	Get(ctx context.Context, userID string) (Ban, bool, error)
	Cleanup(now time.Time) int
}

// DedupStore remembers the result of a message:send by (user, clientMsgId)
// so that a client's retry returns the first result and delivers nothing
// twice.
type DedupStore interface {
	// Do runs fn once per key within ttl: a second call while the first
	// runs waits for it; a call after it succeeded returns its message
	// with dup set. A failed fn leaves nothing behind (a retry runs again).
	Do(ctx context.Context, key string, ttl time.Duration, fn func() (Message, error)) (m Message, dup bool, err error)
	Cleanup(now time.Time) int
}

// memoryMessages is the single-node MessageStore: per channel, a slice in
// order of creation, capped by count and age; the channels and the bytes of
// all histories are capped too (the history of the channel written least
// recently goes first), so that a token allowed in "*" channels cannot grow
// the process without bound.
type memoryMessages struct {
	max         int
	ttl         time.Duration
	maxChannels int
	maxBytes    int64
	now         func() time.Time

	mu       sync.Mutex
	channels map[string]*channelLog
	bytes    int64 // of every history
}

type channelLog struct {
	msgs []Message // oldest first
	last time.Time
}

func newMemoryMessages(max int, ttl time.Duration, maxChannels int, maxBytes int64) *memoryMessages {
	return &memoryMessages{max: max, ttl: ttl, maxChannels: maxChannels, maxBytes: maxBytes, now: time.Now,
		channels: make(map[string]*channelLog)}
}

// msgBytes approximates what a message holds in memory.
func msgBytes(m *Message) int64 {
	n := int64(len(m.ID) + len(m.ChannelID) + len(m.UserID) + len(m.Text) + len(m.CreatedAt) + 160)
	for _, a := range m.Attachments {
		n += int64(len(a.URL) + len(a.Name) + len(a.MimeType) + 56)
	}
	return n
}

// dropLocked removes l.msgs[:k] and accounts for their bytes.
func (s *memoryMessages) dropLocked(l *channelLog, k int) {
	for i := range k {
		s.bytes -= msgBytes(&l.msgs[i])
	}
	n := copy(l.msgs, l.msgs[k:])
	clear(l.msgs[n:])
	l.msgs = l.msgs[:n]
}

func (s *memoryMessages) Append(_ context.Context, m Message) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.channels[m.ChannelID]
	if l == nil {
		if len(s.channels) >= s.maxChannels {
			s.evictLocked("")
		}
		l = &channelLog{}
		s.channels[m.ChannelID] = l
	}
	l.last = now
	// Ids grow with time, but a message whose backend call was slow may
	// arrive after a later one: insert in id order (almost always at the end).
	i := len(l.msgs)
	if i > 0 && l.msgs[i-1].ID > m.ID {
		i = sort.Search(len(l.msgs), func(j int) bool { return l.msgs[j].ID > m.ID })
	}
	l.msgs = append(l.msgs, Message{})
	copy(l.msgs[i+1:], l.msgs[i:])
	l.msgs[i] = m
	s.bytes += msgBytes(&m)
	if over := len(l.msgs) - s.max; over > 0 {
		s.dropLocked(l, over)
	}
	s.pruneLocked(l, now)
	// Over the byte budget: other channels' histories go first, least
	// recently written first; then this channel's oldest messages.
	for s.bytes > s.maxBytes && len(s.channels) > 1 {
		s.evictLocked(m.ChannelID)
	}
	for s.bytes > s.maxBytes && len(l.msgs) > 1 {
		s.dropLocked(l, 1)
	}
	return nil
}

// evictLocked drops the history of the channel written least recently,
// other than keep.
func (s *memoryMessages) evictLocked(keep string) {
	var oldest string
	var at time.Time
	for id, l := range s.channels {
		if id != keep && (oldest == "" || l.last.Before(at)) {
			oldest, at = id, l.last
		}
	}
	if l := s.channels[oldest]; l != nil {
		s.dropLocked(l, len(l.msgs))
		delete(s.channels, oldest)
	}
}

func (s *memoryMessages) pruneLocked(l *channelLog, now time.Time) int {
	cut := 0
	for cut < len(l.msgs) && now.Sub(l.msgs[cut].created) > s.ttl {
		cut++
	}
	if cut > 0 {
		s.dropLocked(l, cut)
	}
	return cut
}

func (s *memoryMessages) find(channelID, id string) (*channelLog, int) {
	l := s.channels[channelID]
	if l == nil {
		return nil, -1
	}
	// Ids grow with time: binary search, then confirm.
	i := sort.Search(len(l.msgs), func(i int) bool { return l.msgs[i].ID >= id })
	if i < len(l.msgs) && l.msgs[i].ID == id {
		return l, i
	}
	return l, -1
}

func (s *memoryMessages) Get(_ context.Context, channelID, id string) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, i := s.find(channelID, id)
	if i < 0 || s.now().Sub(l.msgs[i].created) > s.ttl {
		return Message{}, ErrNotFound
	}
	return l.msgs[i], nil
}

func (s *memoryMessages) Update(_ context.Context, m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, i := s.find(m.ChannelID, m.ID)
	if i < 0 {
		return ErrNotFound
	}
	s.bytes += msgBytes(&m) - msgBytes(&l.msgs[i])
	l.msgs[i] = m
	return nil
}

func (s *memoryMessages) Delete(_ context.Context, channelID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, i := s.find(channelID, id)
	if i < 0 {
		return ErrNotFound
	}
	s.bytes -= msgBytes(&l.msgs[i])
	l.msgs = append(l.msgs[:i], l.msgs[i+1:]...)
	l.msgs[len(l.msgs):cap(l.msgs)][0] = Message{}
	return nil
}

func (s *memoryMessages) History(_ context.Context, channelID, before string, limit int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.channels[channelID]
	if l == nil {
		if before != "" {
			return nil, ErrNotFound
		}
		return []Message{}, nil
	}
	s.pruneLocked(l, s.now())
	end := len(l.msgs)
	if before != "" {
		var i int
		if _, i = s.find(channelID, before); i < 0 {
			return nil, ErrNotFound
		}
		end = i
	}
	start := max(end-limit, 0)
	return append([]Message{}, l.msgs[start:end]...), nil
}

func (s *memoryMessages) Cleanup(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, l := range s.channels {
		n += s.pruneLocked(l, now)
		if len(l.msgs) == 0 && now.Sub(l.last) > s.ttl {
			delete(s.channels, id)
		}
	}
	return n
}

// memoryBans is the single-node BanStore.
type memoryBans struct {
	mu   sync.Mutex
	bans map[string]Ban
	now  func() time.Time
}

func newMemoryBans() *memoryBans { return &memoryBans{bans: make(map[string]Ban), now: time.Now} }

func (s *memoryBans) Put(_ context.Context, b Ban) error {
	s.mu.Lock()
	s.bans[b.UserID] = b
	s.mu.Unlock()
	return nil
}

func (s *memoryBans) Remove(_ context.Context, userID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bans[userID]
	delete(s.bans, userID)
	return ok && b.Active(s.now()), nil
}

func (s *memoryBans) Get(_ context.Context, userID string) (Ban, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bans[userID]
	if !ok || !b.Active(s.now()) {
		return Ban{}, false, nil
	}
	return b, true, nil
}

func (s *memoryBans) Cleanup(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, b := range s.bans {
		if !b.Active(now) {
			delete(s.bans, id)
			n++
		}
	}
	return n
}

// memoryDedup is the single-node DedupStore.
type memoryDedup struct {
	mu      sync.Mutex
	entries map[string]*dedupEntry
	now     func() time.Time
	max     int
}

type dedupEntry struct {
	done    chan struct{}
	msg     Message
	ok      bool
	expires time.Time
}

func newMemoryDedup(max int) *memoryDedup {
	return &memoryDedup{entries: make(map[string]*dedupEntry), now: time.Now, max: max}
}

func (s *memoryDedup) Do(ctx context.Context, key string, ttl time.Duration, fn func() (Message, error)) (Message, bool, error) {
	for {
		s.mu.Lock()
		e := s.entries[key]
		if e != nil && e.ok && s.now().After(e.expires) {
			delete(s.entries, key)
			e = nil
		}
		if e == nil {
			if len(s.entries) >= s.max && s.cleanupLocked(s.now()) == 0 {
				// Full of live keys: run without de-duplication rather
				// than grow past the bound.
				s.mu.Unlock()
				m, err := fn()
				return m, false, err
			}
			e = &dedupEntry{done: make(chan struct{})}
			s.entries[key] = e
			s.mu.Unlock()
			m, err := fn()
			s.mu.Lock()
			if err != nil {
				delete(s.entries, key)
			} else {
				e.msg, e.ok, e.expires = m, true, s.now().Add(ttl)
			}
			close(e.done)
			s.mu.Unlock()
			return m, false, err
		}
		s.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return Message{}, false, ctx.Err()
		}
		if e.ok {
			return e.msg, true, nil
		}
		// The first attempt failed and left: try again as the first.
	}
}

func (s *memoryDedup) cleanupLocked(now time.Time) int {
	n := 0
	for k, e := range s.entries {
		if e.ok && now.After(e.expires) {
			delete(s.entries, k)
			n++
		}
	}
	return n
}

func (s *memoryDedup) Cleanup(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cleanupLocked(now)
}

// Presence is a user's presence as channels see it.
type Presence struct {
	UserID       string `json:"userId"`
	Name         string `json:"name"`
	Status       string `json:"status"`
	LastActiveAt string `json:"lastActiveAt"`
}

// PresenceStore counts users, not sockets: a user is online while any of
// their sockets is connected, and in a channel while any of their sockets
// has joined it. In a cluster (the Redis store) the counts span every
// node; the memory store counts this node's. Methods may block on the
// network, bounded by ctx; an error leaves the gateway's own view of its
// sockets as the truth (see NodePresence.Reconcile).
type PresenceStore interface {
	// Connect counts a socket of the user; first: the user had none.
	Connect(ctx context.Context, userID, name string, now time.Time) (p Presence, first bool, err error)
	// Disconnect uncounts one; last: it was the user's last (the user is
	// then offline) and channels are the ones the user was still in.
	Disconnect(ctx context.Context, userID string, now time.Time) (p Presence, last bool, channels []string, err error)
	// SetStatus sets the status of a connected user (ok false: unknown).
	SetStatus(ctx context.Context, userID, status string, now time.Time) (p Presence, ok bool, err error)
	Get(ctx context.Context, userID string) (p Presence, ok bool, err error)
	// Join and Leave count the user's sockets in a channel; first/last
	// report the user entering or leaving it.
	Join(ctx context.Context, userID, channelID string) (first bool, err error)
	Leave(ctx context.Context, userID, channelID string) (last bool, err error)
	// Online lists the users in the channel, sorted by user id.
	Online(ctx context.Context, channelID string) ([]Presence, error)
	// Channels lists the channels the user is in, sorted.
	Channels(ctx context.Context, userID string) ([]string, error)
	// Cleanup drops what no socket holds any more; it returns how many
	// entries it removed.
	Cleanup(now time.Time) int
}

type memoryPresence struct {
	mu       sync.Mutex
	users    map[string]*userPresence
	channels map[string]map[string]int // channel → user → sockets in it
}

type userPresence struct {
	Presence
	sockets  int
	channels map[string]int
}

func newMemoryPresence() *memoryPresence {
	return &memoryPresence{users: make(map[string]*userPresence), channels: make(map[string]map[string]int)}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (s *memoryPresence) Connect(_ context.Context, userID, name string, now time.Time) (Presence, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	first := u == nil || u.sockets == 0
	if u == nil {
		u = &userPresence{channels: make(map[string]int)}
		s.users[userID] = u
	}
	if first {
		u.Presence = Presence{UserID: userID, Name: name, Status: "online"}
	}
	u.LastActiveAt = stamp(now)
	u.sockets++
	return u.Presence, first, nil
}

func (s *memoryPresence) Disconnect(_ context.Context, userID string, now time.Time) (Presence, bool, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		return Presence{}, false, nil, nil
	}
	u.sockets--
	u.LastActiveAt = stamp(now)
	if u.sockets > 0 {
		return u.Presence, false, nil, nil
	}
	u.Status = "offline"
	chans := make([]string, 0, len(u.channels))
	for ch := range u.channels {
		chans = append(chans, ch)
		s.dropMemberLocked(ch, userID)
	}
	sort.Strings(chans)
	delete(s.users, userID)
	return u.Presence, true, chans, nil
}

func (s *memoryPresence) dropMemberLocked(ch, userID string) {
	if m := s.channels[ch]; m != nil {
		delete(m, userID)
		if len(m) == 0 {
			delete(s.channels, ch)
		}
	}
}

func (s *memoryPresence) SetStatus(_ context.Context, userID, status string, now time.Time) (Presence, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		return Presence{}, false, nil
	}
	u.Status = status
	u.LastActiveAt = stamp(now)
	return u.Presence, true, nil
}

func (s *memoryPresence) Get(_ context.Context, userID string) (Presence, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil {
		return u.Presence, true, nil
	}
	return Presence{}, false, nil
}

func (s *memoryPresence) Join(_ context.Context, userID, ch string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		return false, nil
	}
	u.channels[ch]++
	m := s.channels[ch]
	if m == nil {
		m = make(map[string]int)
		s.channels[ch] = m
	}
	m[userID]++
	return u.channels[ch] == 1, nil
}

func (s *memoryPresence) Leave(_ context.Context, userID, ch string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil || u.channels[ch] == 0 {
		return false, nil
	}
	u.channels[ch]--
	if u.channels[ch] > 0 {
		s.channels[ch][userID]--
		return false, nil
	}
	delete(u.channels, ch)
	s.dropMemberLocked(ch, userID)
	return true, nil
}

func (s *memoryPresence) Online(_ context.Context, ch string) ([]Presence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Presence, 0, len(s.channels[ch]))
	for uid := range s.channels[ch] {
		if u := s.users[uid]; u != nil {
			out = append(out, u.Presence)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

func (s *memoryPresence) Channels(_ context.Context, userID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		return nil, nil
	}
	out := make([]string, 0, len(u.channels))
	for ch := range u.channels {
		out = append(out, ch)
	}
	sort.Strings(out)
	return out, nil
}

// Cleanup drops entries no socket holds: users with no socket and channel
// member counts of users that are gone. The gateway keeps these consistent
// itself, so a non-zero count means a path missed its bookkeeping.
func (s *memoryPresence) Cleanup(time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for uid, u := range s.users {
		if u.sockets <= 0 {
			delete(s.users, uid)
			n++
		}
	}
	for ch, m := range s.channels {
		for uid := range m {
			if s.users[uid] == nil {
				delete(m, uid)
				n++
			}
		}
		if len(m) == 0 {
			delete(s.channels, ch)
		}
	}
	return n
}
