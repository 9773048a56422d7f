package crypt

import (
	"bytes"
	"crypto/rand"
	"io"
	"strings"
	"testing"
)

// BenchmarkEncrypt and BenchmarkDecrypt measure age's stream on one core:
// what encryption adds to a backup, restore or wal-push per byte stored.
func BenchmarkEncrypt(b *testing.B) {
	file, rec, _ := GenerateIdentity()
	_ = file
	rs, _ := ParseRecipients([]string{rec})
	plain := make([]byte, 16<<20)
	_, _ = rand.Read(plain)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		w, _ := rs.NewWriter(io.Discard)
		_, _ = w.Write(plain)
		_ = w.Close()
	}
}

func BenchmarkDecrypt(b *testing.B) {
	file, rec, _ := GenerateIdentity()
	rs, _ := ParseRecipients([]string{rec})
	k, _ := ParseIdentities("bench", strings.NewReader(file))
	plain := make([]byte, 16<<20)
	_, _ = rand.Read(plain)
	var enc bytes.Buffer
	w, _ := rs.NewWriter(&enc)
	_, _ = w.Write(plain)
	_ = w.Close()
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		r, err := k.NewReader(bytes.NewReader(enc.Bytes()), rs.Info(), "bench")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r)
	}
}
