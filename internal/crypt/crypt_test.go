package crypt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func newKey(t *testing.T) (identity, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.String(), id.Recipient().String()
}

func writeIdentity(t *testing.T, mode os.FileMode, ids ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(p, []byte("# test key\n"+strings.Join(ids, "\n")+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func encrypt(t *testing.T, r *Recipients, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := r.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := int64(out.Len()), w.Size(int64(len(plain))); got != want {
		t.Fatalf("%d bytes of plaintext: encrypted to %d bytes, Size said %d", len(plain), got, want)
	}
	return out.Bytes()
}

func TestRoundTripAndExactSize(t *testing.T) {
	idA, recA := newKey(t)
	_, recB := newKey(t)
	rs, err := ParseRecipients([]string{recA, recB})
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadIdentities(writeIdentity(t, 0o600, idA))
	if err != nil {
		t.Fatal(err)
	}
	// Sizes around age's 64 KiB chunk boundary, where the chunk count
	// (and so the announced length of a streamed upload) changes.
	for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3*chunk + 17} {
		plain := make([]byte, n)
		_, _ = rand.Read(plain)
		enc := encrypt(t, rs, plain)
		r, err := k.NewReader(bytes.NewReader(enc), rs.Info(), "test object")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: decrypted content differs", n)
		}
	}
}

func TestChangedByteIsCorrupt(t *testing.T) {
	id, rec := newKey(t)
	rs, _ := ParseRecipients([]string{rec})
	k, _ := ParseIdentities("test", strings.NewReader(id))
	plain := bytes.Repeat([]byte("lifeboat"), 50000)
	enc := encrypt(t, rs, plain)
	enc[len(enc)/2] ^= 1
	r, err := k.NewReader(bytes.NewReader(enc), rs.Info(), "obj")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading a changed byte: got %v, want ErrCorrupt", err)
	}
}

func TestWrongIdentityNamesRecipients(t *testing.T) {
	_, recA := newKey(t)
	idB, _ := newKey(t)
	rs, _ := ParseRecipients([]string{recA})
	k, _ := ParseIdentities("key-b.txt", strings.NewReader(idB))
	enc := encrypt(t, rs, []byte("secret"))
	_, err := k.NewReader(bytes.NewReader(enc), rs.Info(), "backup X")
	var me *MissingIdentityError
	if !errors.As(err, &me) || !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("got %v, want *MissingIdentityError", err)
	}
	if !strings.Contains(err.Error(), Fingerprint(recA)) || !strings.Contains(err.Error(), "backup X") || !strings.Contains(err.Error(), "key-b.txt") {
		t.Fatalf("error does not name the backup, the missing fingerprint and the source: %v", err)
	}
	// No keyring at all says how to give one.
	var none *Keyring
	if err := none.Check("segment Y", rs.Info()); !errors.Is(err, ErrNoIdentity) || !strings.Contains(err.Error(), EnvIdentityFile) {
		t.Fatalf("nil keyring: %v", err)
	}
	if err := none.Check("plain", nil); err != nil {
		t.Fatalf("an unencrypted object needs no identity: %v", err)
	}
}

func TestParseRecipientsRefusesNonRecipients(t *testing.T) {
	id, rec := newKey(t)
	_, err := ParseRecipients([]string{rec, "age1notakey", id})
	if !errors.Is(err, ErrInvalidRecipient) {
		t.Fatalf("got %v, want ErrInvalidRecipient", err)
	}
	if !strings.Contains(err.Error(), "recipient 2") || !strings.Contains(err.Error(), "recipient 3") {
		t.Fatalf("error does not name both bad recipients: %v", err)
	}
	if strings.Contains(err.Error(), id) {
		t.Fatal("the error echoes a private key")
	}
	if r, err := ParseRecipients(nil); r != nil || err != nil {
		t.Fatalf("no recipients is no encryption: %v %v", r, err)
	}
}

func TestSetIDFollowsTheSet(t *testing.T) {
	_, recA := newKey(t)
	_, recB := newKey(t)
	ab, _ := ParseRecipients([]string{recA, recB})
	ba, _ := ParseRecipients([]string{recB, recA})
	a, _ := ParseRecipients([]string{recA})
	if ab.Info().SetID() != ba.Info().SetID() {
		t.Fatal("the order of recipients changes the set id")
	}
	if ab.Info().SetID() == a.Info().SetID() {
		t.Fatal("different sets share an id")
	}
	md := ab.Info().Metadata(nil)
	if back := InfoFromMetadata(md); back.SetID() != ab.Info().SetID() || back.String() != ab.Info().String() {
		t.Fatalf("metadata round trip: %v", back)
	}
	if InfoFromMetadata(map[string]string{}) != nil {
		t.Fatal("no metadata reads as encrypted")
	}
}

func TestLoadIdentitiesRefusesReadableFile(t *testing.T) {
	id, _ := newKey(t)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		p := writeIdentity(t, mode, id)
		_, err := LoadIdentities(p)
		var ie *InsecureFileError
		if !errors.As(err, &ie) || !errors.Is(err, ErrInsecureIdentityFile) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %04o: got %v, want *InsecureFileError", mode, err)
		}
	}
}

func TestLoadIdentitiesFromEnvironment(t *testing.T) {
	id, rec := newKey(t)
	t.Setenv(EnvIdentityFile, "")
	t.Setenv(EnvIdentity, "")
	k, err := LoadIdentities("")
	if k != nil || err != nil {
		t.Fatalf("nothing configured: %v %v", k, err)
	}
	t.Setenv(EnvIdentity, id)
	k, err = LoadIdentities("")
	if err != nil || len(k.Fingerprints()) != 1 || k.Fingerprints()[0] != Fingerprint(rec) {
		t.Fatalf("from %s: %v %v", EnvIdentity, k.Fingerprints(), err)
	}
	t.Setenv(EnvIdentityFile, writeIdentity(t, 0o600, id))
	k, err = LoadIdentities("")
	if err != nil || !strings.HasSuffix(k.Source, "identity.txt") {
		t.Fatalf("from %s: %v %v", EnvIdentityFile, k, err)
	}
	// A bad identity never appears in the error.
	t.Setenv(EnvIdentityFile, "")
	t.Setenv(EnvIdentity, "AGE-SECRET-KEY-1NOTAKEYATALL")
	if _, err := LoadIdentities(""); err == nil || strings.Contains(err.Error(), "NOTAKEY") {
		t.Fatalf("bad identity: %v", err)
	}
}
