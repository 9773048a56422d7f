package objectstore

import "time"

// AsOtherProcess makes c skip this process's lifecycle lock, as a client of
// another process would: only the write-verify-retry loop protects it.
func AsOtherProcess(c *Client) { c.lifecycleUnlocked = true }

// SetLifecycleSettle shortens the pause before a lifecycle write is read
// back; it returns a function restoring the previous value.
func SetLifecycleSettle(d time.Duration) (restore func()) {
	prev := lifecycleSettle
	lifecycleSettle = d
	return func() { lifecycleSettle = prev }
}

// SetClock makes m stamp versions with now.
func (m *Memory) SetClock(now func() time.Time) { m.now = now }
