//go:build !unix

package bus

import "os"

// tryLock does not lock outside Unix: chatwarden's releases and images are
// Linux. On other systems keep to one process per nats.data_dir by hand.
func tryLock(*os.File) (bool, error) { return true, nil }

func unlock(*os.File) error { return nil }
