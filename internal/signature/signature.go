// Package signature signs and verifies the documents Lifeboat keeps in a
// repository, so that a credential that can write into the bucket cannot
// make an agent or a reviewer believe what its owner did not declare.
//
// Two keys, two directions:
//   - the provider's key signs what the provider writes for the agents
//     (the backup policy, drill schedules); an agent configured with the
//     provider's public key refuses configuration without a valid signature,
//     so a database host's writer credentials cannot reconfigure its own
//     backups;
//   - an agent's key signs what it reports (drill evidence); refresh and
//     `lifeboat drill report` check it against the public keys declared in
//     the provider, so a forged "passed" record shows as forged.
//
// Keys are Ed25519. A signature is detached and travels as object metadata
// (MetaSignature), so documents stay plain JSON. It covers a domain string,
// the object's key and the SHA-256 of its body: a valid document copied to
// another key (another cluster's policy, another drill) does not verify.
//
// Text forms: a public key is "ed25519:<base64 of 32 bytes>", a private key
// "ed25519-private:<base64 of the 32-byte seed>"; PEM (PKIX public, PKCS#8
// private, as `openssl genpkey -algorithm ed25519` writes) is accepted too.
package signature

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MetaSignature is the object metadata key holding "<key id>:<base64
// signature>".
const MetaSignature = "lifeboat-signature"

const (
	publicPrefix  = "ed25519:"
	privatePrefix = "ed25519-private:"
	domain        = "lifeboat-signature-v1\n"
)

// Errors of Verify, matched with errors.Is.
var (
	// ErrUnsigned means the object carries no signature.
	ErrUnsigned = errors.New("document is not signed")
	// ErrUnknownSigner means the signature names a key that is not trusted.
	ErrUnknownSigner = errors.New("document is signed by an untrusted key")
	// ErrForged means the signature does not match the document: it was
	// changed after signing, copied from another key, or forged.
	ErrForged = errors.New("document signature does not verify")
)

// Error says which object failed verification and why; it unwraps to one of
// the errors above.
type Error struct {
	Key    string
	Signer string
	Err    error
}

func (e *Error) Error() string {
	if e.Signer != "" {
		return fmt.Sprintf("%s: %v (signer %s)", e.Key, e.Err, e.Signer)
	}
	return fmt.Sprintf("%s: %v", e.Key, e.Err)
}

// Unwrap lets errors.Is match ErrUnsigned, ErrUnknownSigner and ErrForged.
func (e *Error) Unwrap() error { return e.Err }

// Signer signs documents with one private key. The zero value is not
// usable; a nil *Signer signs nothing (see Sign).
type Signer struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

// PublicKey is a verification key.
type PublicKey struct {
	key ed25519.PublicKey
}

// ID is a short, stable name of the key: the first 8 bytes of the SHA-256 of
// the public key, in hex.
func (p PublicKey) ID() string {
	sum := sha256.Sum256(p.key)
	return hex.EncodeToString(sum[:8])
}

// String is the key's text form, "ed25519:<base64>".
func (p PublicKey) String() string { return publicPrefix + base64.StdEncoding.EncodeToString(p.key) }

// Generate makes a new key pair.
func Generate() (*Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return newSigner(priv), nil
}

func newSigner(priv ed25519.PrivateKey) *Signer {
	return &Signer{priv: priv, pub: PublicKey{key: priv.Public().(ed25519.PublicKey)}}
}

// Public is the signer's public key.
func (s *Signer) Public() PublicKey { return s.pub }

// String is the private key's text form, "ed25519-private:<base64 seed>".
// It is a secret.
func (s *Signer) String() string {
	return privatePrefix + base64.StdEncoding.EncodeToString(s.priv.Seed())
}

// ParsePrivateKey reads a private key in either text form.
func ParsePrivateKey(text string) (*Signer, error) {
	text = strings.TrimSpace(text)
	if b, ok := strings.CutPrefix(text, privatePrefix); ok {
		seed, err := base64.StdEncoding.DecodeString(b)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("private key: want %s<base64 of %d bytes>", privatePrefix, ed25519.SeedSize)
		}
		return newSigner(ed25519.NewKeyFromSeed(seed)), nil
	}
	if blk, _ := pem.Decode([]byte(text)); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key: a %T, want Ed25519", k)
		}
		return newSigner(priv), nil
	}
	return nil, fmt.Errorf("private key: want %s<base64 seed> or a PEM PKCS#8 Ed25519 key", privatePrefix)
}

// ParsePublicKey reads a public key in either text form.
func ParsePublicKey(text string) (PublicKey, error) {
	text = strings.TrimSpace(text)
	if b, ok := strings.CutPrefix(text, publicPrefix); ok {
		raw, err := base64.StdEncoding.DecodeString(b)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return PublicKey{}, fmt.Errorf("public key: want %s<base64 of %d bytes>", publicPrefix, ed25519.PublicKeySize)
		}
		return PublicKey{key: ed25519.PublicKey(raw)}, nil
	}
	if blk, _ := pem.Decode([]byte(text)); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return PublicKey{}, fmt.Errorf("public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return PublicKey{}, fmt.Errorf("public key: a %T, want Ed25519", k)
		}
		return PublicKey{key: pub}, nil
	}
	return PublicKey{}, fmt.Errorf("public key: want %s<base64> or a PEM Ed25519 public key", publicPrefix)
}

// message is what is signed: the domain, the object key and the body's hash.
func message(key string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte(domain + key + "\n" + hex.EncodeToString(sum[:]))
}

// Sign returns metadata carrying the signature of body stored at key,
// merged into meta (which may be nil). A nil Signer returns meta unchanged:
// signing is optional until a key is configured.
func (s *Signer) Sign(key string, body []byte, meta map[string]string) map[string]string {
	if s == nil {
		return meta
	}
	out := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		out[k] = v
	}
	out[MetaSignature] = s.pub.ID() + ":" + base64.StdEncoding.EncodeToString(ed25519.Sign(s.priv, message(key, body)))
	return out
}

// Trust is a set of trusted public keys. The zero value trusts nothing and
// requires nothing (Required reports false).
type Trust struct {
	keys map[string]PublicKey
}

// NewTrust parses public keys in text form.
func NewTrust(keys ...string) (Trust, error) {
	t := Trust{keys: map[string]PublicKey{}}
	for i, k := range keys {
		p, err := ParsePublicKey(k)
		if err != nil {
			return Trust{}, fmt.Errorf("key %d: %w", i+1, err)
		}
		t.keys[p.ID()] = p
	}
	return t, nil
}

// Key is the trusted key whose ID is id.
func (t Trust) Key(id string) (PublicKey, bool) {
	p, ok := t.keys[id]
	return p, ok
}

// SignerID is the key ID a signature in meta names ("" when unsigned),
// without checking it.
func SignerID(meta map[string]string) string {
	id, _, _ := strings.Cut(meta[MetaSignature], ":")
	return id
}

// Required reports whether any key is trusted: only then do readers refuse
// unsigned documents.
func (t Trust) Required() bool { return len(t.keys) > 0 }

// Trusts reports whether p is one of t's keys: a signer can tell before
// writing whether readers holding t will accept what it signs.
func (t Trust) Trusts(p PublicKey) bool {
	_, ok := t.keys[p.ID()]
	return ok
}

// Signed reports who signed body at key, judged against t: the signer's key
// ID, or an *Error unwrapping to ErrUnsigned, ErrUnknownSigner or ErrForged.
func (t Trust) Signed(key string, body []byte, meta map[string]string) (string, error) {
	v := meta[MetaSignature]
	if v == "" {
		return "", &Error{Key: key, Err: ErrUnsigned}
	}
	id, sig64, ok := strings.Cut(v, ":")
	if !ok {
		return "", &Error{Key: key, Err: ErrForged}
	}
	pub, ok := t.keys[id]
	if !ok {
		return "", &Error{Key: key, Signer: id, Err: ErrUnknownSigner}
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || !ed25519.Verify(pub.key, message(key, body), sig) {
		return "", &Error{Key: key, Signer: id, Err: ErrForged}
	}
	return id, nil
}

// Flag is what a listing of stored signed records (audit records, posture
// reports) says of err, the error Signed returned for one of them: "" for
// none; unsigned, signed by an untrusted key (or not checked, when t
// trusts no key and so could not tell a forgery), or forged.
func (t Trust) Flag(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrUnsigned):
		return "unsigned: " + err.Error()
	case errors.Is(err, ErrUnknownSigner):
		if t.Required() {
			return "signed by an untrusted key: " + err.Error()
		}
		return "signature not checked: no trusted key given (" + err.Error() + ")"
	default:
		return "forged: " + err.Error()
	}
}

// Check is what a reader of configuration does: with no trusted key every
// document passes; otherwise it must carry a valid signature of a trusted
// key.
func (t Trust) Check(key string, body []byte, meta map[string]string) error {
	if !t.Required() {
		return nil
	}
	_, err := t.Signed(key, body, meta)
	return err
}
