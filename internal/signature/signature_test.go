package signature

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestSignedDocumentsVerifyOnlyUnchangedAtTheirKeyByATrustedKey(t *testing.T) {
	provider, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := Generate()
	trust, err := NewTrust(provider.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"cluster":"main","schedule":"0 2 * * *"}`)
	meta := provider.Sign("pg/main/policy.json", body, map[string]string{"x": "y"})
	if meta["x"] != "y" {
		t.Fatal("Sign dropped existing metadata")
	}

	if !trust.Trusts(provider.Public()) || trust.Trusts(other.Public()) || (Trust{}).Trusts(provider.Public()) {
		t.Fatal("Trusts: only the provider's key is trusted")
	}
	if id, err := trust.Signed("pg/main/policy.json", body, meta); err != nil || id != provider.Public().ID() {
		t.Fatalf("valid document: id %q, err %v", id, err)
	}
	cases := []struct {
		name string
		key  string
		body []byte
		meta map[string]string
		want error
	}{
		{"body changed", "pg/main/policy.json", []byte(`{"cluster":"main","schedule":"0 2 1 1 *"}`), meta, ErrForged},
		{"copied to another cluster's key", "pg/main-eu/policy.json", body, meta, ErrForged},
		{"unsigned", "pg/main/policy.json", body, map[string]string{}, ErrUnsigned},
		{"signed by an untrusted key", "pg/main/policy.json", body, other.Sign("pg/main/policy.json", body, nil), ErrUnknownSigner},
		{"garbled signature", "pg/main/policy.json", body, map[string]string{MetaSignature: provider.Public().ID() + ":!!"}, ErrForged},
		{"no key id", "pg/main/policy.json", body, map[string]string{MetaSignature: "abc"}, ErrForged},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := trust.Signed(c.key, c.body, c.meta)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if err := trust.Check(c.key, c.body, c.meta); !errors.Is(err, c.want) {
				t.Fatalf("Check: err = %v, want %v", err, c.want)
			}
			var se *Error
			if !errors.As(err, &se) || se.Key != c.key {
				t.Fatalf("error %v does not name the key %q", err, c.key)
			}
		})
	}
}

func TestNoTrustedKeyRequiresNothingAndNilSignerSignsNothing(t *testing.T) {
	var s *Signer
	meta := s.Sign("k", []byte("b"), map[string]string{"a": "b"})
	if _, ok := meta[MetaSignature]; ok {
		t.Fatal("a nil signer signed")
	}
	if err := (Trust{}).Check("k", []byte("b"), nil); err != nil {
		t.Fatalf("zero Trust refused an unsigned document: %v", err)
	}
}

// TestTrustFlag: what a listing says of each verification result, and
// that a signer it cannot judge without trusted keys is not called
// untrusted.
func TestTrustFlag(t *testing.T) {
	provider, _ := Generate()
	other, _ := Generate()
	trust, err := NewTrust(provider.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("report")
	signed := func(tr Trust, meta map[string]string) error {
		_, err := tr.Signed("k", body, meta)
		return err
	}
	forged := provider.Sign("k", body, nil)
	forged[MetaSignature] = provider.Public().ID() + ":AAAA"
	cases := []struct {
		name string
		t    Trust
		err  error
		want string
	}{
		{"trusted", trust, signed(trust, provider.Sign("k", body, nil)), ""},
		{"unsigned", trust, signed(trust, nil), "unsigned: "},
		{"another key", trust, signed(trust, other.Sign("k", body, nil)), "signed by an untrusted key: "},
		{"no trusted key", Trust{}, signed(Trust{}, provider.Sign("k", body, nil)), "signature not checked: no trusted key given ("},
		{"forged", trust, signed(trust, forged), "forged: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.t.Flag(c.err)
			if !strings.HasPrefix(got, c.want) || (c.want == "") != (got == "") || (c.err != nil && !strings.Contains(got, c.err.Error())) {
				t.Fatalf("Flag(%v) = %q, want %q followed by the error", c.err, got, c.want)
			}
		})
	}
}

func TestKeyTextFormsRoundTrip(t *testing.T) {
	s, _ := Generate()
	back, err := ParsePrivateKey(s.String())
	if err != nil || back.Public().String() != s.Public().String() {
		t.Fatalf("private key round trip: %v", err)
	}
	pub, err := ParsePublicKey(s.Public().String())
	if err != nil || pub.ID() != s.Public().ID() {
		t.Fatalf("public key round trip: %v", err)
	}
	// PEM, as openssl genpkey -algorithm ed25519 writes it.
	der, _ := x509.MarshalPKCS8PrivateKey(s.priv)
	fromPEM, err := ParsePrivateKey(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	if err != nil || fromPEM.Public().ID() != s.Public().ID() {
		t.Fatalf("PEM private key: %v", err)
	}
	pder, _ := x509.MarshalPKIXPublicKey(ed25519.PublicKey(s.pub.key))
	pubPEM, err := ParsePublicKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder})))
	if err != nil || pubPEM.ID() != s.Public().ID() {
		t.Fatalf("PEM public key: %v", err)
	}
	for _, bad := range []string{"", "ed25519:AAAA", "ed25519-private:AAAA", "rsa:xyz"} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
		if _, err := ParsePrivateKey(bad); err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted", bad)
		}
	}
	if _, err := NewTrust("ed25519:bad"); err == nil {
		t.Fatal("NewTrust accepted a bad key")
	}
}
