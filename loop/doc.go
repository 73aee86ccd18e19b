// Package loop is the only glue between the server and gnet: it turns bytes
// into HTTP/1.1 requests or WebSocket messages and back, on gnet event loops,
// with no goroutine per connection.
//
// Ownership: every Conn belongs to one Loop and only that loop's goroutine
// touches it. Other goroutines reach a loop through Loop.Post, which runs
// tasks in FIFO order on the loop. Writes queued for a connection while a loop
// handles one batch of events (a read, a batch of posted tasks, a batch of
// timers) are coalesced and leave in one write syscall at the end of the batch.
// Timers live in a per-loop heap with millisecond precision, woken by one
// driver goroutine per loop; there is no timer or goroutine per connection.
//
// loop knows nothing of Engine.IO: it imports codec for the wire formats and
// hands complete requests and messages to a Handler.
package loop
