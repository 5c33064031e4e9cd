//go:build race

package service_test

// raceEnabled: the race detector slows everything down several times.
const raceEnabled = true
