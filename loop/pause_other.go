//go:build !linux || poll_opt

package loop

// setInterest cannot change the registration here (gnet's ultimate poller
// keeps a pointer in the epoll event): input is never paused.
func (c *Conn) setInterest(bool) bool { return false }
