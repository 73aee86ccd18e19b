// Package limits holds the checks that sit on the hot path and must cost
// next to nothing: rate limits (per connection, per user, per IP, per event),
// connection admission, circuit breakers around external dependencies, and
// sanitization and validation of user text.
//
// Every check is O(1) and allocation-free once its key exists. Times are
// passed in as monotonic nanoseconds (the caller's loop clock), so the
// package is deterministic under test and never reads the clock itself on
// the hot path.
package limits
