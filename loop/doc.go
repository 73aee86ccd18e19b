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
// A pass runs at most 256 posted tasks before the loop goes back to epoll,
// and a loop's task queue is bounded (Options.MaxPendingTasks).
//
// Output: the loop counts what a write attempt left unsent (ours and
// gnet's) and leaves the policy to whoever feeds a connection: OverCap,
// NotifyDrained, PauseInput (the connection is no longer read, so TCP holds
// the client back) and Abort. A connection whose producer waits and which
// takes nothing for Options.WriteStallTimeout is closed as a slow consumer.
//
// loop knows nothing of Engine.IO: it imports codec for the wire formats and
// hands complete requests and messages to a Handler.
package loop
