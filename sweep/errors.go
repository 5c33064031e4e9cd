package sweep

import "errors"

var (
	// ErrUnknownKind is returned for a sweep kind this package does not
	// implement (see Kinds).
	ErrUnknownKind = errors.New("sweep: unknown kind")

	// ErrNoProgress is returned by the Tracker's waits when the workers
	// decided nothing for the idle time: they are not running, or are stuck
	// (retrying a platform that fails).
	ErrNoProgress = errors.New("sweep: the workers made no decision in time")

	// ErrNotLister is returned when the LiveChat client of an organization
	// cannot list chats (it is not a *livechat.Client).
	ErrNotLister = errors.New("sweep: the LiveChat client cannot list chats")
)
