//go:build !race

package idp

const raceDetector = false
