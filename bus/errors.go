package bus

import "errors"

var (
	// ErrNotConnected is returned by Publish when the connection to NATS is
	// down; the caller should answer "try again later" instead of waiting.
	ErrNotConnected = errors.New("bus: not connected to NATS")

	// ErrPartitionsChanged is returned by Provision when the events stream was
	// created with a different number of partitions than configured.
	ErrPartitionsChanged = errors.New("bus: nats.partitions differs from the existing events stream")
)
