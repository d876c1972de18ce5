package judge

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReadInputs: any input either fails with an error or reads queries
// that survive a round trip through the deferred format unchanged.
//
//	go test ./judge -run '^$' -fuzz FuzzReadInputs -fuzztime 30s
func FuzzReadInputs(f *testing.F) {
	f.Add(`{"run":"r","payload":{"kind":"text","prompt":"p","completions":["a","b"]},"gold":1}`)
	f.Add(`{"kind":"text","prompt":"p","completions":["a","b","c"]}`)
	f.Add(`{"prompt":"p\u0000<","chosen":"a\n","rejected":"\"b"}`)
	f.Add("\xef\xbb\xbf{\"chosen\":\"x\",\"rejected\":\"y\"}\n\n{\"kind\":\"control\"}")
	f.Fuzz(func(t *testing.T, s string) {
		in, err := ReadInputs(strings.NewReader(s), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "judge: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		for _, x := range in {
			if err := x.Query.Validate(); err != nil {
				t.Fatalf("read an invalid query: %v", err)
			}
			if err := WriteDeferred(&buf, x); err != nil {
				t.Fatal(err)
			}
		}
		back, err := ReadInputs(&buf, "deferred")
		if err != nil {
			t.Fatalf("deferred output unreadable: %v\n%q", err, buf.String())
		}
		if len(back) != len(in) {
			t.Fatalf("%d queries came back as %d", len(in), len(back))
		}
		for i := range in {
			a, b := in[i].Query.Items, back[i].Query.Items
			if len(a) != len(b) {
				t.Fatalf("query %d: %d items came back as %d", i, len(a), len(b))
			}
			for j := range a {
				if a[j] != b[j] {
					t.Fatalf("query %d item %d: %+v came back as %+v", i, j, a[j], b[j])
				}
			}
		}
	})
}
