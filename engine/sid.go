package engine

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
)

// NewID returns a fresh unguessable id: 128 bits from crypto/rand, URL-safe
// base64 without padding (22 characters).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux (getrandom)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sessionMap is the sid → session index, sharded to keep loops from
// contending on one lock.
type sessionMap struct {
	shards [32]struct {
		mu sync.RWMutex
		m  map[string]*Session
	}
}

func (m *sessionMap) shard(sid []byte) int {
	h := uint32(2166136261)
	for _, c := range sid {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h % uint32(len(m.shards)))
}

func (m *sessionMap) get(sid []byte) *Session {
	sh := &m.shards[m.shard(sid)]
	sh.mu.RLock()
	s := sh.m[string(sid)]
	sh.mu.RUnlock()
	return s
}

func (m *sessionMap) put(s *Session) {
	sh := &m.shards[m.shard([]byte(s.id))]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[string]*Session)
	}
	sh.m[s.id] = s
	sh.mu.Unlock()
}

func (m *sessionMap) del(s *Session) {
	sh := &m.shards[m.shard([]byte(s.id))]
	sh.mu.Lock()
	if sh.m[s.id] == s {
		delete(sh.m, s.id)
	}
	sh.mu.Unlock()
}

func (m *sessionMap) len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

func (m *sessionMap) each(fn func(*Session)) {
	var all []*Session
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			all = append(all, s)
		}
		sh.mu.RUnlock()
	}
	for _, s := range all {
		fn(s)
	}
}
