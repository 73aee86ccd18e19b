package socketio

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testNamespace is a namespace with n sockets and no server behind it, for
// the adapter's own tests.
func testNamespace(n int) (*Namespace, []*Socket) {
	nsp := &Namespace{srv: &Server{}, name: "/", sockets: make(map[SocketID]*Socket)}
	ss := make([]*Socket, n)
	for i := range ss {
		ss[i] = &Socket{id: SocketID("s" + strconv.Itoa(i)), nsp: nsp}
		nsp.add(ss[i])
	}
	return nsp, ss
}

func viewSockets(v memberView) []*Socket {
	var out []*Socket
	v.each(func(s *Socket) bool { out = append(out, s); return true })
	return out
}

// TestMemberSetViewsAreSnapshots: random adds and removes against a model;
// every view taken along the way keeps exactly the sockets it had, however
// the set changes after it.
func TestMemberSetViewsAreSnapshots(t *testing.T) {
	_, ss := testNamespace(1000)
	rng := rand.New(rand.NewPCG(1, 2))
	var set memberSet
	var model []*Socket        // position i holds the socket at set position i
	pos := map[*Socket]int32{} // as the adapter keeps it
	type snap struct {
		v    memberView
		want []*Socket
	}
	var snaps []snap
	for step := range 4000 {
		if len(model) == 0 || rng.IntN(3) > 0 && len(model) < len(ss) {
			var s *Socket
			for s == nil || slices.Contains(model, s) {
				s = ss[rng.IntN(len(ss))]
			}
			pos[s] = set.add(s)
			model = append(model, s)
		} else {
			s := model[rng.IntN(len(model))]
			i := pos[s]
			moved := set.remove(i)
			last := model[len(model)-1]
			model[i] = last
			model = model[:len(model)-1]
			delete(pos, s)
			if moved != nil {
				if moved != last {
					t.Fatalf("step %d: remove moved %s, want the last, %s", step, moved.id, last.id)
				}
				pos[moved] = i
			}
		}
		if got := viewSockets(set.view()); !slices.Equal(got, model) {
			t.Fatalf("step %d: set %d sockets, model %d", step, len(got), len(model))
		}
		if step%97 == 0 {
			snaps = append(snaps, snap{set.view(), slices.Clone(model)})
		}
	}
	for i, sn := range snaps {
		if got := viewSockets(sn.v); !slices.Equal(got, sn.want) {
			t.Fatalf("snapshot %d changed after it was taken", i)
		}
	}
}

// TestMemberSetReadersRaceNoWriter runs readers walking views while a
// writer adds and removes, for the race detector: a view is read without
// the lock the writer holds.
func TestMemberSetReadersRaceNoWriter(t *testing.T) {
	_, ss := testNamespace(600)
	var mu sync.RWMutex
	var set memberSet
	pos := map[*Socket]int32{}
	in := map[*Socket]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.RLock()
				v := set.view()
				mu.RUnlock()
				n := 0
				v.each(func(s *Socket) bool {
					if s == nil {
						t.Error("a view holds a nil socket")
						return false
					}
					n++
					return true
				})
				if n != v.n {
					t.Errorf("walked %d of %d", n, v.n)
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 30000 {
		s := ss[rng.IntN(len(ss))]
		mu.Lock()
		if in[s] {
			if moved := set.remove(pos[s]); moved != nil {
				pos[moved] = pos[s]
			}
			delete(in, s)
		} else {
			pos[s] = set.add(s)
			in[s] = true
		}
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
}

// TestBroadcastWalksRecipientsWithoutTheAdapterLock: while a broadcast
// walks a large room, joins and leaves go on (they used to wait for the
// whole walk under the adapter's read lock, and every later broadcast
// behind them).
func TestBroadcastWalksRecipientsWithoutTheAdapterLock(t *testing.T) {
	nsp, ss := testNamespace(5000)
	a := newMemoryAdapter(nsp)
	nsp.adapter = a
	for _, s := range ss[:4000] {
		a.AddAll(s.id, []Room{Room(s.id), "big"})
	}
	walked := 0
	joined := make(chan struct{})
	a.apply(&BroadcastOptions{Rooms: []Room{"big"}}, func(s *Socket) bool {
		walked++
		if walked == 10 {
			go func() {
				for _, s := range ss[4000:] {
					a.AddAll(s.id, []Room{Room(s.id), "big", "other"})
				}
				a.Del(ss[0].id, "big")
				close(joined)
			}()
			select {
			case <-joined:
			case <-time.After(5 * time.Second):
				t.Fatal("joins waited for a broadcast's walk of its recipients")
			}
		}
		return true
	})
	if walked != 4000 {
		t.Fatalf("the walk saw %d recipients, want the 4000 of its snapshot", walked)
	}
	if n := len(a.matching(&BroadcastOptions{Rooms: []Room{"big"}})); n != 4999 {
		t.Fatalf("%d in the room after the joins and the leave, want 4999", n)
	}
}
