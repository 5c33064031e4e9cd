//go:build !linux

package testfs

import "testing"

// Tmpfs needs Linux: the test is skipped (or fails under CI=true).
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	requireRoot(t, "mounting a tmpfs")
	t.Skip("mounting a tmpfs needs Linux")
	return ""
}

// TmpfsAt needs Linux.
func TmpfsAt(t testing.TB, dir string, size int64) {
	t.Helper()
	requireRoot(t, "mounting a tmpfs")
	t.Skip("needs Linux")
}

// RemountReadOnly needs Linux.
func RemountReadOnly(t testing.TB, dir string) { t.Helper(); t.Skip("needs Linux") }

// Free needs Linux.
func Free(t testing.TB, dir string) int64 { t.Helper(); t.Skip("needs Linux"); return 0 }

// Fill needs Linux.
func Fill(t testing.TB, dir string, leave int64) string { t.Helper(); t.Skip("needs Linux"); return "" }
