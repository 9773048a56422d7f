package compression

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
)

func TestRoundTripEveryMethod(t *testing.T) {
	data := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(data[:1<<20]) // part random, part zeros
	for _, m := range Methods {
		t.Run(m.Name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := m.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if m.Name != None && buf.Len() >= len(data) {
				t.Errorf("%s did not compress: %d >= %d", m.Name, buf.Len(), len(data))
			}
			r, err := m.NewReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s round trip changed the data", m.Name)
			}
			if byExt, ok := ByExt(m.Ext); !ok || byExt != m {
				t.Fatalf("ByExt(%q) = %v, %v", m.Ext, byExt, ok)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	if m, err := Lookup(""); err != nil || m.Name != Default {
		t.Fatalf("Lookup(\"\") = %v, %v; want the default", m, err)
	}
	if _, err := Lookup("gzip"); err == nil {
		t.Fatal("Lookup(gzip) succeeded")
	}
}
