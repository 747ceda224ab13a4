package conftypes

import (
	"errors"
	"fmt"
)

// MessageRate bounds what one client may send on one WebSocket connection
// (limits.client_message_rate, issue 10): messages and payload bytes per
// second, each with a burst of one second's worth. Zero leaves that
// dimension unlimited.
type MessageRate struct {
	// Messages is the number of messages a second (data messages; control
	// frames are not counted, their size is bounded by RFC 6455).
	Messages float64 `yaml:"messages"`
	// Bytes is the number of payload bytes a second, control frames
	// included.
	Bytes Size `yaml:"bytes"`
	// OnExceed is what happens to a client over the rate: "pause" (the
	// default) stops reading from it until it is back under, so TCP's
	// flow control slows it down; "close" closes it with 1008 Policy
	// Violation.
	OnExceed string `yaml:"on_exceed"`
}

// Rate over-run policies (MessageRate.OnExceed).
const (
	OnExceedPause = "pause"
	OnExceedClose = "close"
)

// Limited reports whether the rate bounds anything.
func (m *MessageRate) Limited() bool { return m.Messages > 0 || m.Bytes > 0 }

// Closes reports whether a client over the rate is closed rather than
// paused.
func (m *MessageRate) Closes() bool { return m.OnExceed == OnExceedClose }

// Validate checks the rate's fields, named relative to the rate.
func (m *MessageRate) Validate() error {
	var errs []error
	if m.Messages < 0 {
		errs = append(errs, Field("messages", errors.New("must not be negative")))
	}
	if m.Bytes < 0 {
		errs = append(errs, Field("bytes", errors.New("must not be negative")))
	}
	switch m.OnExceed {
	case "", OnExceedPause, OnExceedClose:
	default:
		errs = append(errs, Field("on_exceed", fmt.Errorf("%q: want %q or %q", m.OnExceed, OnExceedPause, OnExceedClose)))
	}
	return errors.Join(errs...)
}
