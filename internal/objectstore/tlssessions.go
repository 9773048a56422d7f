package objectstore

import (
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
)

// sessionFile is a tls.ClientSessionCache kept in a file (mode 0600), so
// that a process started per WAL segment (archive_command, restore_command)
// resumes the TLS session of the one before it instead of a full handshake:
// the store then skips its certificate signature, and this side the
// certificate chain's verification (with a real CA, loading the system's
// roots first), both on the path of every segment.
//
// The file holds resumption secrets of connections to the store: it lives
// beside the push-ahead records in the state directory, as private as the
// configuration file that holds the store's keys. A session the store no
// longer honours (restarted, keys rotated) simply gets a full handshake,
// and an unreadable file is an empty cache.
type sessionFile struct {
	path string
	mu   sync.Mutex
}

// maxStoredSessions bounds the file: one session per store endpoint is
// what a host needs.
const maxStoredSessions = 8

type storedSession struct {
	Ticket []byte `json:"ticket"`
	State  []byte `json:"state"`
}

func (f *sessionFile) read() map[string]storedSession {
	all := map[string]storedSession{}
	b, err := os.ReadFile(f.path)
	if err == nil {
		_ = json.Unmarshal(b, &all) // a damaged file is an empty cache
	}
	return all
}

// Get implements tls.ClientSessionCache.
func (f *sessionFile) Get(key string) (*tls.ClientSessionState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.read()[key]
	if !ok {
		return nil, false
	}
	state, err := tls.ParseSessionState(s.State)
	if err != nil {
		return nil, false
	}
	cs, err := tls.NewResumptionState(s.Ticket, state)
	if err != nil {
		return nil, false
	}
	return cs, true
}

// Put implements tls.ClientSessionCache: a nil session forgets key.
func (f *sessionFile) Put(key string, cs *tls.ClientSessionState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	all := f.read()
	if cs == nil {
		if _, ok := all[key]; !ok {
			return
		}
		delete(all, key)
	} else {
		ticket, state, err := cs.ResumptionState()
		if err != nil || state == nil {
			return
		}
		b, err := state.Bytes()
		if err != nil {
			return
		}
		if _, ok := all[key]; !ok && len(all) >= maxStoredSessions {
			clear(all)
		}
		all[key] = storedSession{Ticket: ticket, State: b}
	}
	f.write(all) // best effort: without it, the next process does a full handshake
}

// write replaces the file whole (a temporary file renamed over it), so
// concurrent processes never read half of one.
func (f *sessionFile) write(all map[string]storedSession) {
	b, err := json.Marshal(all)
	if err != nil {
		return
	}
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".tls-sessions-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}
