//go:build linux && !poll_opt

package loop

import (
	"os"
	"reflect"
	"strconv"
	"sync"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Input pausing: back-pressure reaches the client through TCP.
//
// A client that writes faster than it reads what its writes produce (a
// pipelined burst of acknowledged emits) would otherwise make the server
// hold everything the client has not read yet: gnet reads every readable
// socket and has no way to stop. Pausing a connection takes EPOLLIN out of
// its registration with the loop's epoll instance, so its bytes stay in the
// kernel, the receive window closes, and the client's own writes wait in
// the client. Its output keeps flowing (EPOLLOUT stays while gnet has some).
//
// gnet v2 keeps its epoll descriptor to itself; the loop finds it once per
// loop by reflection (read-only: gnet.conn.loop.poller.fd), and falls back
// to not pausing, counted, if gnet's layout ever differs. gnet re-registers
// EPOLLIN whenever its own write state changes (a partial write, a drained
// buffer): the loop re-applies the pause after its writes, on every read
// that slips through (at most one read buffer), and on its drain ticks.

// epollFD returns the epoll descriptor of the gnet loop that owns gc, or -1.
func epollFD(gc gnet.Conn) int {
	v := reflect.ValueOf(gc)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return -1
	}
	v = v.Elem()
	if v.Kind() != reflect.Struct {
		return -1
	}
	loopF := v.FieldByName("loop")
	if !loopF.IsValid() || loopF.Kind() != reflect.Pointer || loopF.IsNil() {
		return -1
	}
	el := loopF.Elem()
	if el.Kind() != reflect.Struct {
		return -1
	}
	pollerF := el.FieldByName("poller")
	if !pollerF.IsValid() || pollerF.Kind() != reflect.Pointer || pollerF.IsNil() {
		return -1
	}
	p := pollerF.Elem()
	if p.Kind() != reflect.Struct {
		return -1
	}
	fdF := p.FieldByName("fd")
	if !fdF.IsValid() || fdF.Kind() != reflect.Int {
		return -1
	}
	fd := int(fdF.Int())
	// It must be an epoll instance, not some other descriptor.
	if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err != nil || link != "anon_inode:[eventpoll]" {
		return -1
	}
	return fd
}

var pauseFallback sync.Once

// setInterest registers c's socket for writes only (paused: while gnet has
// output) or for reads and writes as gnet would (resumed). It reports
// whether the registration could be changed.
func (c *Conn) setInterest(paused bool) bool {
	l := c.loop
	if l.epfd == 0 {
		l.epfd = epollFD(c.gc) + 1 // 0: not looked up yet
		if l.epfd == 0 {
			pauseFallback.Do(func() {
				l.srv.opts.Logger.Warn("loop: cannot reach gnet's epoll instance; input is never paused (bursts are buffered up to MaxBufferedBytes)")
			})
		}
	}
	if l.epfd <= 0 {
		return false
	}
	var events uint32 = unix.EPOLLIN | unix.EPOLLPRI
	if paused {
		events = 0
	}
	if c.gc.OutboundBuffered() > 0 {
		events |= unix.EPOLLOUT
	}
	fd := c.gc.Fd()
	return unix.EpollCtl(l.epfd-1, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}) == nil
}
