//go:build race

package interop

// raceEnabled says the tests run with -race; wsedge is then built with
// it too.
const raceEnabled = true
