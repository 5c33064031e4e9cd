package bus

import "errors"

var (
	// ErrNotConnected is returned by Publish when the connection to NATS is
	// down; the caller should answer "try again later" instead of waiting.
	ErrNotConnected = errors.New("bus: not connected to NATS")

	// ErrStorageFull is returned by Publish and Ready while the broker
	// cannot store: its disk is full, JetStream's storage limit
	// (max_file_store) is reached, or JetStream is disabled. Publish then
	// fails at once, without waiting for an acknowledgement; storing
	// resumes by itself when there is room again (see Bus.StoreState).
	ErrStorageFull = errors.New("bus: the broker cannot store events (storage full)")

	// ErrConnectionLost is reported by Bus.Alive once the connection is
	// closed for good (not by Close): nats.go does not reconnect after the
	// server drops a client for a protocol error such as an oversized
	// subject ("maximum control line exceeded").
	ErrConnectionLost = errors.New("bus: NATS connection closed for good")

	// ErrPartitionsChanged is returned by Provision when the events stream was
	// created with a different number of partitions than configured.
	ErrPartitionsChanged = errors.New("bus: nats.partitions differs from the existing events stream")
)

// ErrNoBroker is returned by OpenForOperator when there is neither a NATS
// server to connect to nor JetStream data in nats.data_dir to open.
var ErrNoBroker = errors.New("bus: no NATS server to connect to and no data to open")

// ErrDataDirLocked is returned by Open and OpenForOperator when another
// process (or another Bus in this one) already runs an embedded server on
// nats.data_dir. The error names the holder's pid and how to reach it.
var ErrDataDirLocked = errors.New("bus: nats.data_dir is in use")

// ErrDataDirUnusable is returned by Open when the embedded server could not
// keep its files in nats.data_dir: it cannot be created, is not a
// directory, is not writable (a read-only filesystem, missing permission),
// or JetStream refuses to start on it. The error names the directory and
// the cause.
var ErrDataDirUnusable = errors.New("bus: nats.data_dir is not usable")
