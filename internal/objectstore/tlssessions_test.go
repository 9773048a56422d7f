package objectstore

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestTLSSessionResumedByTheNextProcess: a client given a session file
// leaves its TLS session there, and the next client (the next wal-push
// process) resumes it rather than make a full handshake; without the file,
// or with a damaged one, every client makes a full handshake and works as
// before. The file is private.
func TestTLSSessionResumedByTheNextProcess(t *testing.T) {
	var mu sync.Mutex
	var resumed []bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		resumed = append(resumed, r.TLS.DidResume)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>`))
	}))
	defer srv.Close()
	ctx := context.Background()
	sessions := filepath.Join(t.TempDir(), "state", "tls-sessions.json")
	// get makes a fresh client, as a new process would, and reports
	// whether its one request resumed a session.
	get := func(file string) bool {
		t.Helper()
		c, err := NewClient(ctx, Config{Endpoint: srv.URL, AccessKey: "ak", SecretKey: "sk", PathStyle: true, Insecure: true, TLSSessionFile: file})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Store("b").Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get: %v, want ErrNotFound", err)
		}
		mu.Lock()
		defer mu.Unlock()
		return resumed[len(resumed)-1]
	}
	for range 2 {
		if get("") {
			t.Fatal("a client without a session file resumed a session")
		}
	}
	if get(sessions) {
		t.Fatal("the first client with an empty session file resumed a session")
	}
	fi, err := os.Stat(sessions)
	if err != nil {
		t.Fatalf("no session kept: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file mode %04o, want 0600", fi.Mode().Perm())
	}
	for i := range 2 {
		if !get(sessions) {
			t.Fatalf("client %d after the first did not resume the kept session", i+1)
		}
	}
	if err := os.WriteFile(sessions, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if get(sessions) {
		t.Fatal("a damaged session file resumed a session")
	}
	if !get(sessions) {
		t.Fatal("the session kept after a damaged file was not resumed")
	}
}
