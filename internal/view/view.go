// Package view reads byte slices as strings without copying them, for
// parsers (gjson) that take strings.
package view

import "unsafe"

// String is b as a string, sharing b's memory. b must not be modified while
// the string, or any string or slice derived from it, is in use.
func String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
