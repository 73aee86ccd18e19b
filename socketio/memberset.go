package socketio

// memberSet is the sockets of one room (or of a whole namespace), in a
// layout a broadcast walks without holding the adapter's lock: chunks that
// are never written below the length a reader may hold.
//
//   - Adding writes past the published length (into the last chunk, or a
//     new chunk appended past the published chunk count): a reader, who
//     never looks past the length it took, cannot see it happen. O(1).
//   - Removing moves the last socket into the hole, which writes below the
//     length: the chunks involved and the chunk list are copied first
//     (copy on write), so a reader keeps walking the arrays it took.
//     O(chunkSize + n/chunkSize).
//
// Chunk 0 starts small and doubles up to chunkSize (a room of a few
// sockets costs a few words); the others are full-size. A chunk's length
// is its capacity, so no slice header is ever changed in place.
//
// Writers hold the adapter's write lock; readers take a view under its
// read lock and walk it after releasing the lock.
type memberSet struct {
	chunks [][]*Socket
	n      int
}

const (
	chunkSize      = 128
	firstChunkSize = 4
)

// memberView is a snapshot of a memberSet: its first n sockets.
type memberView struct {
	chunks [][]*Socket
	n      int
}

func (m *memberSet) view() memberView { return memberView{chunks: m.chunks, n: m.n} }

// each calls fn for every socket of the view until fn returns false.
func (v memberView) each(fn func(*Socket) bool) bool {
	for i := 0; i < v.n; i++ {
		if !fn(v.chunks[i/chunkSize][i%chunkSize]) {
			return false
		}
	}
	return true
}

// add appends s and returns its position. Writer only.
func (m *memberSet) add(s *Socket) int32 {
	i := m.n
	ci, off := i/chunkSize, i%chunkSize
	switch {
	case ci == len(m.chunks):
		size := chunkSize
		if ci == 0 {
			size = firstChunkSize
		}
		// append writes past the published chunk count, or copies.
		m.chunks = append(m.chunks, make([]*Socket, size))
	case off == len(m.chunks[ci]): // chunk 0 is full and still small: double it
		bigger := make([]*Socket, min(2*len(m.chunks[ci]), chunkSize))
		copy(bigger, m.chunks[ci])
		list := make([][]*Socket, len(m.chunks), cap(m.chunks))
		copy(list, m.chunks)
		list[ci] = bigger
		m.chunks = list
	}
	m.chunks[ci][off] = s
	m.n++
	return int32(i)
}

// remove takes out the socket at position i and returns the socket moved
// into its place (nil when i was the last). Writer only.
func (m *memberSet) remove(i int32) *Socket {
	last := m.n - 1
	list := make([][]*Socket, (last+chunkSize-1)/chunkSize, max(len(m.chunks), 1))
	copy(list, m.chunks)
	var moved *Socket
	if int(i) != last {
		hole := int(i) / chunkSize
		c := append([]*Socket(nil), m.chunks[hole]...)
		moved = m.chunks[last/chunkSize][last%chunkSize]
		c[int(i)%chunkSize] = moved
		list[hole] = c
	}
	if lc := last / chunkSize; lc < len(list) {
		// The last slot is cleared in a copy: a reader may still read it.
		c := append([]*Socket(nil), list[lc]...)
		c[last%chunkSize] = nil
		list[lc] = c
	}
	m.chunks = list
	m.n = last
	return moved
}
