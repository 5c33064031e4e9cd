package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LockFile is the name of the file in nats.data_dir that a process holds an
// exclusive lock on while its embedded server uses the directory. It records
// the holder's pid, nats.listen address and start time.
const LockFile = "chatwarden.lock"

// LockHolder is what the lock file says about the process using a data
// directory.
type LockHolder struct {
	PID     int       `json:"pid"`
	Listen  string    `json:"listen"` // the embedded server's client address, or "off"
	Started time.Time `json:"started"`
}

// dirLock is an exclusive advisory lock (flock) on LockFile in a data
// directory. The kernel drops it when the process ends, however it ends, so a
// crash never leaves a stale lock: only the file's content stays behind.
type dirLock struct {
	dir string
	f   *os.File
}

// lockDataDir takes the data directory's lock without waiting, recording the
// caller as holder with listen as its address. When another process (or
// another Open in this one) holds it, it fails at once with
// ErrDataDirLocked, naming the holder and how to reach its server instead.
func lockDataDir(dir, listen string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating nats.data_dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock file of nats.data_dir %s: %w", dir, err)
	}
	locked, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking nats.data_dir %s (%s): %w", dir, path, err)
	}
	if !locked {
		holder, rerr := readHolder(f)
		f.Close()
		return nil, lockedError(dir, holder, rerr)
	}
	l := &dirLock{dir: dir, f: f}
	if err := l.record(listen); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// record writes the holder's details into the lock file.
func (l *dirLock) record(listen string) error {
	data, err := json.Marshal(LockHolder{PID: os.Getpid(), Listen: listen, Started: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("writing the lock file of nats.data_dir %s: %w", l.dir, err)
	}
	if _, err := l.f.WriteAt(append(data, '\n'), 0); err != nil {
		return fmt.Errorf("writing the lock file of nats.data_dir %s: %w", l.dir, err)
	}
	return nil
}

// release empties the lock file and drops the lock. The file itself stays:
// removing it would let two later openers lock two different files.
func (l *dirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = unlock(l.f)
	_ = l.f.Close()
	l.f = nil
}

func readHolder(f *os.File) (LockHolder, error) {
	var h LockHolder
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<16))
	if err != nil {
		return h, err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return h, errors.New("the lock file is empty (the holder is starting)")
	}
	return h, json.Unmarshal(data, &h)
}

func lockedError(dir string, h LockHolder, readErr error) error {
	if readErr != nil {
		return fmt.Errorf("%w: nats.data_dir %s is used by another process (%s says who: %v); "+
			"connect to it through its nats.listen address, or stop it first", ErrDataDirLocked, dir, LockFile, readErr)
	}
	who := fmt.Sprintf("process %d (since %s)", h.PID, h.Started.Format(time.RFC3339))
	if addr, ok := loopbackAddr(h.Listen); ok {
		return fmt.Errorf("%w: nats.data_dir %s is used by %s; connect to the running service instead: "+
			"set nats.listen to %s (or nats.url to nats://%s), or stop process %d first",
			ErrDataDirLocked, dir, who, h.Listen, addr, h.PID)
	}
	return fmt.Errorf("%w: nats.data_dir %s is used by %s, which has no listener (nats.listen off) to connect to; "+
		"stop process %d first, or give it a nats.listen address", ErrDataDirLocked, dir, who, h.PID)
}
