package testfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs of size bytes on a new temporary directory and
// returns it; it is unmounted when the test ends (after the cleanups the
// test registers later, such as stopping a service that uses it).
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	requireRoot(t, "mounting a tmpfs")
	dir := t.TempDir()
	TmpfsAt(t, dir, size)
	return dir
}

// TmpfsAt mounts a tmpfs of size bytes on the existing directory dir,
// unmounted when the test ends.
func TmpfsAt(t testing.TB, dir string, size int64) {
	t.Helper()
	requireRoot(t, "mounting a tmpfs")
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Fatalf("mounting a tmpfs of %d bytes on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting the tmpfs on %s: %v", dir, err)
		}
	})
}

// RemountReadOnly makes the tmpfs mounted on dir (by Tmpfs or TmpfsAt)
// read-only.
// Root is not stopped by file modes, but by a read-only mount.
func RemountReadOnly(t testing.TB, dir string) {
	t.Helper()
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		t.Fatalf("remounting %s read-only: %v", dir, err)
	}
}

// Free is the space available on the filesystem holding dir.
func Free(t testing.TB, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs %s: %v", dir, err)
	}
	return int64(st.Bavail) * st.Bsize
}

// Fill writes a file in dir that leaves about leave bytes free on its
// filesystem, and returns its path; removing it gives the space back.
func Fill(t testing.TB, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("creating %s: %v", path, err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		free := Free(t, dir)
		if free <= leave {
			return path
		}
		n := min(int64(len(chunk)), free-leave)
		if _, err := f.Write(chunk[:n]); err != nil {
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
}
