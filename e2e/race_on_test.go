//go:build race

package e2e

// raceDetector says whether the race detector is on: it slows HTTP-heavy
// tests about tenfold, so the largest scale down under it (CI also runs
// them at full size without it).
const raceDetector = true
