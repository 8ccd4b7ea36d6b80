//go:build race

package idp

// raceDetector: the race detector slows the embedded SQLite (modernc, C translated to Go) many
// times more than argon2id, so timings under it say nothing about production.
const raceDetector = true
