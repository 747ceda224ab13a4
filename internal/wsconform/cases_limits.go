package wsconform

import "fmt"

// limitFragment is the fragment size of the fragmented large messages,
// Autobahn 9.3.4's 4 KiB.
const limitFragment = 4 << 10

// limitCases is the bounded part of Autobahn section 9: messages of 64 KiB,
// 256 KiB and 1 MiB in one frame (9.1.1-9.1.3 text, 9.2.1-9.2.3 binary),
// and the same sizes in 4 KiB fragments. Autobahn's fragmented cases
// (9.3.x, 9.4.x) always send 4 MiB; these variants stop at 1 MiB so that a
// relay's default message limit is not what they measure. Unlike
// Autobahn, which only checks the length, the payload digest must match.
func limitCases() []Case {
	sizes := []struct {
		n    int
		name string
	}{{64 << 10, "64K"}, {256 << 10, "256K"}, {1 << 20, "1M"}}
	var out []Case
	single := []dataType{
		{"text", false, OpText, "BAsd7&jh23"}, // case9_1_1.py's payload pattern
		{"binary", true, OpBinary, "\xfe"},
	}
	for sub, typ := range single {
		for i, size := range sizes {
			p := repeat(typ.fill, size.n)
			out = append(out, echoCase(fmt.Sprintf("9.%d.%d", sub+1, i+1),
				fmt.Sprintf("Send a %s message of %s in one frame.", typ.name, size.name),
				fmt.Sprintf("The %s message comes back unchanged; clean close with 1000.", typ.name),
				bigWait, false, []Event{MessageEvent(typ.binary, p)}, Send(typ.frame(p))))
		}
	}
	fragmented := []dataType{
		{"text", false, OpText, "*"}, // case9_3_x.py: "*" * DATALEN
		{"binary", true, OpBinary, "\xfe"},
	}
	for sub, typ := range fragmented {
		for _, size := range sizes {
			p := repeat(typ.fill, size.n)
			out = append(out, variant(echoCase(fmt.Sprintf("9.%d.4/%s", sub+3, size.name),
				fmt.Sprintf("Send a %s message of %s in fragments of 4 KiB (Autobahn 9.%d.4 sends 4 MiB).", typ.name, size.name, sub+3),
				fmt.Sprintf("The %s message comes back reassembled and unchanged; clean close with 1000.", typ.name),
				bigWait, false, []Event{MessageEvent(typ.binary, p)}, Send(fragments(typ.op, p, limitFragment)...))))
		}
	}
	return out
}
