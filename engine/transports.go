package engine

// TransportCounts returns the open sessions by transport: polling ones
// (not upgraded yet, or never) and WebSocket ones. Safe from any
// goroutine; it walks every session (for statistics, not the hot path).
func (s *Server) TransportCounts() (polling, websocket int) {
	for i := range s.sessions.shards {
		sh := &s.sessions.shards[i]
		sh.mu.RLock()
		for _, ss := range sh.m {
			if ss.upgraded.Load() {
				websocket++
			} else {
				polling++
			}
		}
		sh.mu.RUnlock()
	}
	return polling, websocket
}
