package socketio

// Compress sets the compress flag (see Socket.Compress).
func (e *SocketEmitter) Compress(v bool) *SocketEmitter { e.f.noCompress = !v; return e }

// compressFlag is the flag as a broadcast carries it: nil when unset.
func (f emitFlags) compressFlag() *bool {
	if !f.noCompress {
		return nil
	}
	v := false
	return &v
}

// prepared is p as the flags send it: compress(false) shares its bytes
// but is never compressed.
func (f *BroadcastFlags) prepared(p *Prepared) *Prepared {
	if f.Compress != nil && !*f.Compress {
		return p.Uncompressed()
	}
	return p
}
