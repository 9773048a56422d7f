package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

func TestKeygenWritesAPrivateKeyOnlyTheOwnerReadsAndNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.key")
	var out bytes.Buffer
	if err := runKeygen(context.Background(), keygenOptions{out: path}, &out); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	priv, err := signature.ParsePrivateKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != priv.Public().String() {
		t.Fatalf("printed public key %q is not the file's (%q)", got, priv.Public())
	}
	if err := runKeygen(context.Background(), keygenOptions{out: path}, &out); err == nil {
		t.Fatal("keygen overwrote an existing key")
	}
}

// TestKeygenAgeWritesAnIdentityTheRecipientOpens: the identity file is
// 0600 and loads, and the printed recipient is its public key.
func TestKeygenAgeWritesAnIdentityTheRecipientOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "restorer.age")
	var out bytes.Buffer
	if err := runKeygen(context.Background(), keygenOptions{out: path, age: true}, &out); err != nil {
		t.Fatal(err)
	}
	ids, err := crypt.LoadIdentities(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := crypt.ParseRecipients([]string{strings.TrimSpace(out.String())})
	if err != nil {
		t.Fatal(err)
	}
	if err := ids.Check("x", r.Info()); err != nil {
		t.Fatalf("the identity does not match the printed recipient: %v", err)
	}
	if err := runKeygen(context.Background(), keygenOptions{out: path, age: true}, &out); err == nil {
		t.Fatal("keygen overwrote an existing identity")
	}
}
