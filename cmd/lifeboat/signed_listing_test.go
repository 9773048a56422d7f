package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestWriteSignedListing: both formats of a listing of signed records, the
// empty listing (JSON [] rather than null), and the exit status 1 naming
// how many records were flagged.
func TestWriteSignedListing(t *testing.T) {
	type line struct {
		Name  string   `json:"name"`
		Flags []string `json:"flags,omitempty"`
	}
	errFlagged := errors.New("records flagged")
	write := func(format string, lines []line) (string, error) {
		var out bytes.Buffer
		err := writeSignedListing(signedListing{format: format, out: &out}, lines, func(l line) []string { return l.Flags }, "no records",
			func(w io.Writer, l line) { fmt.Fprintf(w, "record %s\n", l.Name) }, errFlagged)
		return out.String(), err
	}
	if out, err := write("json", nil); err != nil || out != "[]\n" {
		t.Fatalf("empty JSON listing: %q, %v", out, err)
	}
	if out, err := write("text", nil); err != nil || out != "no records\n" {
		t.Fatalf("empty text listing: %q, %v", out, err)
	}
	sound := []line{{Name: "a"}, {Name: "b"}}
	if out, err := write("text", sound); err != nil || out != "record a\nrecord b\n" {
		t.Fatalf("sound text listing: %q, %v", out, err)
	}
	flagged := []line{{Name: "a"}, {Name: "b", Flags: []string{"unsigned: x", "not under object lock"}}}
	out, err := write("text", flagged)
	if out != "record a\nrecord b\n  FLAGGED: unsigned: x\n  FLAGGED: not under object lock\n" ||
		!errors.Is(err, errFlagged) || exitCode(err) != 1 || err.Error() != "records flagged: 1 of 2" {
		t.Fatalf("flagged text listing: %q, %v", out, err)
	}
	out, err = write("json", flagged)
	if want := "[\n  {\n    \"name\": \"a\"\n  },\n  {\n    \"name\": \"b\",\n    \"flags\": [\n      \"unsigned: x\",\n      \"not under object lock\"\n    ]\n  }\n]\n"; out != want || !errors.Is(err, errFlagged) {
		t.Fatalf("flagged JSON listing: %q, %v", out, err)
	}
	if _, err := write("yaml", sound); err == nil || err.Error() != `--format "yaml": want text or json` {
		t.Fatalf("unknown format: %v", err)
	}
}
