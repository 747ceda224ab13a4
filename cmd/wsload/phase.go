// Phase marks: with -phase-fd, wsload tells another program, on a
// descriptor it inherited, the moments its measured phase starts and
// ends. A benchmark reads the target's counters (CPU time, system calls)
// at those moments, so that they cover the same interval as the rates in
// the summary, without the opening and closing of connections.
//
// One line per event: "start", then "end". wsload closes the descriptor
// when the run is over, so a reader that saw "start" and reaches the end
// of the stream without "end" knows the run was cut short.

package main

import "os"

// phaseMarks announces the measured phase; the zero value announces
// nothing.
type phaseMarks struct{ f *os.File }

// openPhaseMarks takes over descriptor fd (validated by the options), or
// returns the silent zero value for fd 0.
func openPhaseMarks(fd int) phaseMarks {
	if fd == 0 {
		return phaseMarks{}
	}
	return phaseMarks{f: os.NewFile(uintptr(fd), "phase-fd")}
}

func (m phaseMarks) start() { m.write("start\n") }

func (m phaseMarks) end() { m.write("end\n") }

// write sends one mark. A failed write (the observer went away) is
// ignored: the run must not depend on whether it is being observed. On a
// descriptor other than stdout and stderr a closed pipe is an EPIPE
// error, not a signal.
func (m phaseMarks) write(line string) {
	if m.f != nil {
		_, _ = m.f.WriteString(line)
	}
}

// close ends the stream of marks.
func (m phaseMarks) close() {
	if m.f != nil {
		m.f.Close()
	}
}
