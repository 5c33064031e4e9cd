package bus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
)

// checkDataDir makes sure the embedded server can keep its files in dir
// (nats.data_dir) before it starts: the directory exists or can be made,
// and a test file can be written and synced in it and in its JetStream
// store directory when that exists. A read-only or unusable directory thus
// fails at once, with an error wrapping ErrDataDirUnusable that names the
// directory and the cause, e.g. "nats.data_dir /srv/data: not writable:
// read-only file system".
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return unusable("nats.data_dir %s: cannot create it: %v", dir, cause(err))
	}
	for _, d := range []string{dir, filepath.Join(dir, server.JetStreamStoreDir)} {
		fi, err := os.Stat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist) && d != dir:
			continue // JetStream creates it
		case err != nil:
			return unusable("nats.data_dir %s: %s: %v", dir, d, cause(err))
		case !fi.IsDir():
			return unusable("nats.data_dir %s: %s is not a directory", dir, d)
		}
		if err := probeWrite(d, 1); err != nil {
			return unusable("nats.data_dir %s: not writable: %v", dir, cause(err))
		}
	}
	return nil
}

// cause is the innermost error of a file operation ("read-only file
// system", "permission denied"), without the paths the message names
// already.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// unusableError is an ErrDataDirUnusable whose message is only its own
// (it names the key and the directory already).
type unusableError struct{ msg string }

func unusable(format string, args ...any) error {
	return &unusableError{msg: fmt.Sprintf(format, args...)}
}

func (e *unusableError) Error() string { return e.msg }
func (e *unusableError) Unwrap() error { return ErrDataDirUnusable }
