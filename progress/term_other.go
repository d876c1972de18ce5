//go:build !linux

package progress

import "io"

// terminalWidth reports whether w is a terminal. Outside Linux the bar
// always uses plain lines.
func terminalWidth(w io.Writer) (bool, int) { return false, 0 }
