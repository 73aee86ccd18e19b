package engine

import "time"

// SetUpgradePollHold sets how long a GET that came during an upgrade is
// held (upgradePollHold) and returns the function that restores it. Call it
// before the server starts, and restore after it stopped.
func SetUpgradePollHold(d time.Duration) (restore func()) {
	old := upgradePollHold
	upgradePollHold = d
	return func() { upgradePollHold = old }
}
