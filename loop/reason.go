package loop

// CloseReason says why a connection closed. It doubles as a metrics label.
type CloseReason uint8

// Close reasons.
const (
	ReasonNone             CloseReason = iota
	ReasonPeerClosed                   // the peer closed TCP or sent a WebSocket close
	ReasonIOError                      // a read or write failed
	ReasonServerClosed                 // the handler closed it (end of a response, session close)
	ReasonBadRequest                   // malformed HTTP
	ReasonHeaderTooLarge               // request head over the byte or field cap
	ReasonBodyTooLarge                 // request body over the cap
	ReasonProtocolError                // WebSocket protocol violation (1002)
	ReasonMessageTooLarge              // WebSocket message over the cap (1009)
	ReasonTooManyFragments             // WebSocket fragment cap (1008)
	ReasonInvalidUTF8                  // WebSocket text that is not UTF-8 (1007)
	ReasonSlowConsumer                 // queued output over the cap
	ReasonPanic                        // a panic was recovered while serving it
	ReasonShutdown                     // the server is stopping
	ReasonTimeout                      // a stage timed out
	ReasonRefused                      // admission control refused it (429/503)
	ReasonRateLimited                  // the peer exceeded a rate limit
	ReasonInvalidDeflate               // WebSocket compressed data that does not inflate (1007)
	numReasons
)

var reasonNames = [numReasons]string{
	"none", "peer closed", "io error", "server closed", "bad request", "header too large",
	"body too large", "protocol error", "message too large", "too many fragments",
	"invalid utf8", "slow consumer", "panic", "shutdown", "timeout", "refused", "rate limited",
	"invalid deflate",
}

func (r CloseReason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}
