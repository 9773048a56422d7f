package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
