//go:build !race

package event

// raceEnabled: sync.Pool drops items at random under the race detector.
const raceEnabled = false
