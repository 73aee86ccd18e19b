package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
)

// DisconnectError is the cause (context.Cause) of a socket's Context once
// the socket is gone. It matches ErrDisconnected with errors.Is.
type DisconnectError struct {
	Reason string // the disconnect reason ("client namespace disconnect", "ping timeout", …)
}

func (e *DisconnectError) Error() string {
	return "socketio: socket disconnected: " + e.Reason
}

// Is makes errors.Is(err, ErrDisconnected) true.
func (e *DisconnectError) Is(target error) bool { return target == ErrDisconnected }

// Context returns a context that is cancelled when the socket disconnects
// (or when its connection is refused), with a *DisconnectError as its
// cause. Blocking work started from a handler (a query, an HTTP call, a
// stream) should run under it, off the event loop, so that it stops with
// its client. It is made on first use: sockets that never ask cost nothing.
// Safe from any goroutine; after the disconnect it returns a context that
// is already cancelled.
func (s *Socket) Context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.extras()
	if x.ctx == nil {
		x.ctx, x.cancel = context.WithCancelCause(context.Background())
		if s.closing.Load() && !s.connected.Load() {
			x.cancel(&DisconnectError{Reason: "disconnected"})
		}
	}
	return x.ctx
}

// endContext cancels the socket's context, if one was asked for. Callers
// set closing (and clear connected) first, so a Context made after this
// is born cancelled.
func (s *Socket) endContext(reason string) {
	s.mu.Lock()
	var cancel context.CancelCauseFunc
	if s.x != nil {
		cancel = s.x.cancel
	}
	s.mu.Unlock()
	if cancel != nil {
		cancel(&DisconnectError{Reason: reason})
	}
}

// InvalidArgsError is reported to OnError handlers when an event's
// argument does not decode into the type of a typed handler (On, Once).
type InvalidArgsError struct {
	Event string
	Err   error
}

func (e *InvalidArgsError) Error() string {
	return "socketio: invalid arguments for event " + strconv.Quote(e.Event) + ": " + e.Err.Error()
}

func (e *InvalidArgsError) Unwrap() error { return e.Err }

// On registers a typed handler: the event's first argument is decoded once
// into a T (with Args.Decode: JSON into Go values, binary attachments into
// []byte), and ack answers the client's acknowledgement with an R (a no-op
// when the client asked for none; only the first call counts; it may be
// called later, from any goroutine).
//
// An argument that is missing or does not decode into T never reaches fn:
// it is counted (Stats().InvalidArgs), reported to the socket's OnError
// handlers as an *InvalidArgsError, and, when the client waits for an ack,
// answered {"error":"invalid","message":"missing argument"} (or "argument
// does not match the expected type") so that the client's callback is not
// left hanging; OnError gets the decoder's error.
//
//	socketio.On(s, "message:send", func(s *socketio.Socket, m SendMessage, ack func(SendResult)) {
//		ack(SendResult{ID: store(m)})
//	})
func On[T, R any](s *Socket, event string, fn func(s *Socket, msg T, ack func(R))) {
	s.On(event, typed(event, fn))
}

// Once is the typed On for the next occurrence of the event only.
func Once[T, R any](s *Socket, event string, fn func(s *Socket, msg T, ack func(R))) {
	s.Once(event, typed(event, fn))
}

func typed[T, R any](event string, fn func(s *Socket, msg T, ack func(R))) EventHandler {
	return func(e *Event) {
		var msg T
		err := e.Decode(0, &msg)
		if err != nil {
			e.socket.invalidArgs(e, err)
			return
		}
		fn(e.socket, msg, func(r R) { _ = e.Ack(r) })
	}
}

// invalidArgs counts, reports and answers an event whose arguments a
// typed handler could not decode.
func (s *Socket) invalidArgs(e *Event, err error) {
	s.nsp.srv.invalidArgs.Add(1)
	if e.HasAck() {
		// The decoder's own words name Go types: the client is told
		// what is wrong, not how the server is built.
		msg := `"argument does not match the expected type"`
		if errors.Is(err, ErrArgIndex) {
			msg = `"missing argument"`
		}
		_ = e.Ack(json.RawMessage(`{"error":"invalid","message":` + msg + `}`))
	}
	var hs []func(error)
	s.mu.Lock()
	if s.x != nil {
		hs = s.x.onError
	}
	s.mu.Unlock()
	ie := &InvalidArgsError{Event: e.name, Err: err}
	for _, h := range hs {
		h(ie)
	}
}
