// Package crypt encrypts what the agent uploads (base backups, tenant dumps,
// WAL) on the database host, to public age recipients, and decrypts it for
// restores with identities that host never holds.
//
// Key separation: a host configured with recipients only (public keys) can
// write backups but never read them back; restores, drills, verification and
// wal-fetch need an identity (a private key), loaded by LoadIdentities from
// a file (mode 0600, never group or world readable) or the environment, and
// never stored in Terraform state or in the repository.
//
// Rotation: every object records the fingerprints of the recipients it was
// encrypted to (object metadata, and manifests), so new recipients apply to
// new objects while old identities still open old ones, and a restore can be
// refused at plan time, naming the recipients no held identity matches.
//
// The format is age's (https://age-encryption.org/v1): a header with one
// stanza per recipient, then ChaCha20-Poly1305 in 64 KiB chunks, each
// authenticated: one changed byte fails decryption. Data is compressed
// before it is encrypted (ciphertext does not compress).
package crypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"filippo.io/age"
)

// Environment variables LoadIdentities reads when no file is configured.
const (
	// EnvIdentityFile names a file of age identities.
	EnvIdentityFile = "LIFEBOAT_AGE_IDENTITY_FILE"
	// EnvIdentity holds age identities themselves (one per line), for CI
	// secrets that arrive as environment variables.
	EnvIdentity = "LIFEBOAT_AGE_IDENTITY"
)

// Object metadata keys (S3 user metadata, lower case) of an encrypted
// object.
const (
	// MetaEncryption is the scheme, Scheme.
	MetaEncryption = "lifeboat-encryption"
	// MetaRecipients lists the fingerprints of the recipients the object is
	// encrypted to, space separated.
	MetaRecipients = "lifeboat-recipients"
)

// Scheme is the one encryption scheme Lifeboat writes.
const Scheme = "age"

// Errors, matched with errors.Is.
var (
	// ErrInvalidRecipient means a declared recipient is not an age public
	// key.
	ErrInvalidRecipient = errors.New("not an age recipient")
	// ErrNoIdentity means no identity held can decrypt an object.
	ErrNoIdentity = errors.New("no identity can decrypt it")
	// ErrInsecureIdentityFile means an identity file that other accounts
	// can read.
	ErrInsecureIdentityFile = errors.New("identity file is readable by other users")
	// ErrCorrupt means encrypted bytes that do not authenticate: changed,
	// truncated or not an age file.
	ErrCorrupt = errors.New("encrypted data does not authenticate")
)

// Fingerprint is the short public name of a recipient, as manifests,
// metadata and errors show it: the first 8 bytes of the SHA-256 of its
// text form, in hex. It names a key without repeating it.
func Fingerprint(recipient string) string {
	s := sha256.Sum256([]byte(strings.TrimSpace(recipient)))
	return hex.EncodeToString(s[:8])
}

// Info says how an object is encrypted: what manifests record.
type Info struct {
	Scheme string `json:"scheme"`
	// Recipients are the fingerprints of the recipients, sorted.
	Recipients []string `json:"recipients"`
}

// SetID names the recipient set in object keys: 8 hex digits derived from
// the sorted fingerprints, the same for every object of the set.
func (i *Info) SetID() string {
	if i == nil {
		return ""
	}
	s := sha256.Sum256([]byte(strings.Join(i.Recipients, ",")))
	return hex.EncodeToString(s[:4])
}

// Metadata adds the object metadata of i to md (a new map when md is nil)
// and returns it; an unencrypted object (nil i) gets none.
func (i *Info) Metadata(md map[string]string) map[string]string {
	if i == nil {
		return md
	}
	if md == nil {
		md = map[string]string{}
	}
	md[MetaEncryption] = i.Scheme
	md[MetaRecipients] = strings.Join(i.Recipients, " ")
	return md
}

// String is "age to <fp>, <fp>".
func (i *Info) String() string {
	if i == nil {
		return "not encrypted"
	}
	return i.Scheme + " to " + strings.Join(i.Recipients, ", ")
}

// InfoFromMetadata reads Metadata back: nil for an unencrypted object.
func InfoFromMetadata(md map[string]string) *Info {
	s := md[MetaEncryption]
	if s == "" {
		return nil
	}
	return &Info{Scheme: s, Recipients: strings.Fields(md[MetaRecipients])}
}

// Recipients are the public keys new objects are encrypted to.
type Recipients struct {
	list []age.Recipient
	info Info
}

// RecipientError says which declared recipient was refused.
type RecipientError struct {
	Index int
	Value string
	Err   error
}

func (e *RecipientError) Error() string {
	return fmt.Sprintf("recipient %d (%q) is not an age recipient (age1...): %v", e.Index+1, e.Value, e.Err)
}

// Unwrap lets errors.Is(err, ErrInvalidRecipient) match.
func (e *RecipientError) Unwrap() error { return ErrInvalidRecipient }

// ParseRecipients reads age recipients ("age1..." X25519 keys, or
// "age1pq1..." hybrid post-quantum keys). An empty list is nil: no
// encryption. A value that is not a recipient (an identity pasted by
// mistake, a typo) is a *RecipientError naming it by position; an identity
// is never echoed.
func ParseRecipients(values []string) (*Recipients, error) {
	if len(values) == 0 {
		return nil, nil
	}
	r := &Recipients{info: Info{Scheme: Scheme}}
	var errs []error
	for i, v := range values {
		v = strings.TrimSpace(v)
		shown := v
		if strings.HasPrefix(strings.ToUpper(v), "AGE-SECRET-KEY") {
			shown = "AGE-SECRET-KEY-... (an identity: give its public key, `age-keygen -y`)"
		}
		if strings.ContainsAny(v, "\n#") || v == "" {
			errs = append(errs, &RecipientError{Index: i, Value: shown, Err: errors.New("one recipient per value")})
			continue
		}
		parsed, err := age.ParseRecipients(strings.NewReader(v))
		if err != nil {
			errs = append(errs, &RecipientError{Index: i, Value: shown, Err: err})
			continue
		}
		r.list = append(r.list, parsed...)
		if fp := Fingerprint(v); !slices.Contains(r.info.Recipients, fp) {
			r.info.Recipients = append(r.info.Recipients, fp)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.Sort(r.info.Recipients)
	return r, nil
}

// Info is how objects encrypted to r are recorded; nil for nil r.
func (r *Recipients) Info() *Info {
	if r == nil {
		return nil
	}
	i := r.info
	i.Recipients = slices.Clone(i.Recipients)
	return &i
}

// Writer encrypts into its destination. Its header goes out with the first
// Write or Close, so it can be made before anything reads the destination
// (a pipe to an upload that starts later).
type Writer struct {
	dst    io.Writer
	header []byte // until written
	hdrLen int64
	age    io.WriteCloser
}

// switchWriter lets age write its header into a buffer, then the stream
// into the destination.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// NewWriter returns a writer that encrypts to r into dst. Close writes the
// last chunk; it does not close dst.
func (r *Recipients) NewWriter(dst io.Writer) (*Writer, error) {
	var hdr bytes.Buffer
	sw := &switchWriter{w: &hdr}
	a, err := age.Encrypt(sw, r.list...)
	if err != nil {
		return nil, fmt.Errorf("starting encryption: %w", err)
	}
	sw.w = dst
	return &Writer{dst: dst, header: hdr.Bytes(), hdrLen: int64(hdr.Len()), age: a}, nil
}

func (w *Writer) flushHeader() error {
	if w.header == nil {
		return nil
	}
	h := w.header
	w.header = nil
	_, err := w.dst.Write(h)
	return err
}

// Write encrypts p.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.flushHeader(); err != nil {
		return 0, err
	}
	return w.age.Write(p)
}

// Close encrypts the last chunk.
func (w *Writer) Close() error {
	if err := w.flushHeader(); err != nil {
		return err
	}
	return w.age.Close()
}

// chunk and tag are age's STREAM parameters: plaintext is cut into 64 KiB
// chunks, each followed by a 16-byte Poly1305 tag.
const (
	chunk = 64 << 10
	tag   = 16
)

// Size is the exact number of bytes w writes for plain bytes of
// plaintext: its header, then every chunk with its tag (an empty
// plaintext is one empty chunk). A streamed upload announces it before
// the first byte.
func (w *Writer) Size(plain int64) int64 {
	chunks := max((plain+chunk-1)/chunk, 1)
	return w.hdrLen + plain + chunks*tag
}

// GenerateIdentity returns a new X25519 identity file body (as age-keygen
// writes it: a comment naming the public key, then the private key) and
// its recipient.
func GenerateIdentity() (file, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", err
	}
	r := id.Recipient().String()
	return "# public key: " + r + "\n" + id.String() + "\n", r, nil
}

// Keyring holds the identities (private keys) restores decrypt with.
// A nil *Keyring holds none.
type Keyring struct {
	ids []age.Identity
	fps []string
	// Source says where the identities came from (a file, an
	// environment variable), for error messages.
	Source string
}

// Fingerprinted is a keyring of the fingerprints of identities held
// elsewhere (an agent's heartbeat lists them), from source: it answers
// Check for that holder, and decrypts nothing.
func Fingerprinted(fps []string, source string) *Keyring {
	return &Keyring{fps: slices.Clone(fps), Source: source}
}

// MissingIdentityError names what cannot be decrypted and the recipients
// an identity is needed for.
type MissingIdentityError struct {
	// What is the object, backup or segment.
	What string
	// Needed are the fingerprints the object is encrypted to; Held those
	// of the identities held, from Source.
	Needed, Held []string
	Source       string
}

func (e *MissingIdentityError) Error() string {
	held := "no identity is configured: set identity_file, or " + EnvIdentityFile
	if e.Source != "" {
		held = "the identities of " + e.Source
		if len(e.Held) > 0 {
			held += " (recipients " + strings.Join(e.Held, ", ") + ")"
		}
		held += " match none of them"
	}
	return fmt.Sprintf("%s is encrypted to age recipients %s, and %s: give the identity of one of those recipients",
		e.What, strings.Join(e.Needed, ", "), held)
}

// Unwrap lets errors.Is(err, ErrNoIdentity) match.
func (e *MissingIdentityError) Unwrap() error { return ErrNoIdentity }

// InsecureFileError is an identity file other accounts can read.
type InsecureFileError struct {
	Path string
	Mode fs.FileMode
}

func (e *InsecureFileError) Error() string {
	return fmt.Sprintf("%s holds age identities (private keys) but has mode %04o (readable by group or others): run `chmod 600 %s`",
		e.Path, e.Mode.Perm(), e.Path)
}

// Unwrap lets errors.Is(err, ErrInsecureIdentityFile) match.
func (e *InsecureFileError) Unwrap() error { return ErrInsecureIdentityFile }

// LoadIdentities is the one place identities come from, for every restore,
// drill, verification and wal-fetch: the file at path when it is set,
// otherwise the file named by LIFEBOAT_AGE_IDENTITY_FILE, otherwise the
// identities in LIFEBOAT_AGE_IDENTITY. It returns nil (no identities, not an
// error) when none of them is set: unencrypted repositories need none, and
// an encrypted object then fails with a *MissingIdentityError. A file
// readable by group or others is refused with an *InsecureFileError before
// it is read.
func LoadIdentities(path string) (*Keyring, error) {
	if path == "" {
		path = os.Getenv(EnvIdentityFile)
	}
	if path == "" {
		if v := os.Getenv(EnvIdentity); strings.TrimSpace(v) != "" {
			return ParseIdentities(EnvIdentity, strings.NewReader(v))
		}
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading age identities: %w", err)
	}
	defer f.Close()
	// NOTE: Stat the open file, so the mode checked is the mode of the
	// bytes read.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading age identities: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, &InsecureFileError{Path: path, Mode: st.Mode()}
	}
	return ParseIdentities(path, f)
}

// ParseIdentities reads age identities ("AGE-SECRET-KEY-1...", one per
// line, # comments), as age-keygen writes them, from source (named in
// errors).
func ParseIdentities(source string, r io.Reader) (*Keyring, error) {
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, fmt.Errorf("age identities in %s: %w", source, err)
	}
	k := &Keyring{ids: ids, Source: source}
	for _, id := range ids {
		var pub string
		switch id := id.(type) {
		case *age.X25519Identity:
			pub = id.Recipient().String()
		case *age.HybridIdentity:
			pub = id.Recipient().String()
		default:
			continue
		}
		if fp := Fingerprint(pub); !slices.Contains(k.fps, fp) {
			k.fps = append(k.fps, fp)
		}
	}
	slices.Sort(k.fps)
	return k, nil
}

// Fingerprints are the fingerprints of the recipients of the identities
// held.
func (k *Keyring) Fingerprints() []string {
	if k == nil {
		return nil
	}
	return slices.Clone(k.fps)
}

// Check reports whether an identity held decrypts an object encrypted as
// info says (nil: not encrypted, always fine): a restore calls it at plan
// time for everything it will read. The error is a *MissingIdentityError
// naming what (the backup, the segment) and the recipients needed.
func (k *Keyring) Check(what string, info *Info) error {
	if info == nil {
		return nil
	}
	if k != nil {
		for _, fp := range info.Recipients {
			if slices.Contains(k.fps, fp) {
				return nil
			}
		}
	}
	e := &MissingIdentityError{What: what, Needed: slices.Clone(info.Recipients)}
	if k != nil {
		e.Held, e.Source = k.Fingerprints(), k.Source
	}
	return e
}

// NewReader decrypts src, an object encrypted as info says (what names it
// in errors). An identity that does not match is a *MissingIdentityError;
// a header that does not parse or authenticate wraps ErrCorrupt, and so
// does every later read of a chunk that does not authenticate.
func (k *Keyring) NewReader(src io.Reader, info *Info, what string) (io.Reader, error) {
	if err := k.Check(what, info); err != nil {
		return nil, err
	}
	r, err := age.Decrypt(src, k.ids...)
	var nomatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &nomatch):
		// The metadata named one of our recipients but the header does
		// not open with its identity: the header was changed.
		return nil, fmt.Errorf("%s: %w: no identity opens its header (%w)", what, ErrCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("%s: %w (%w)", what, ErrCorrupt, err)
	}
	return &corruptReader{r: r, what: what}, nil
}

// corruptReader marks age's stream failures (a chunk that does not
// authenticate, a truncated stream) as ErrCorrupt; errors from the source
// pass through too, which callers tell apart by their own source wrapper.
type corruptReader struct {
	r    io.Reader
	what string
}

func (c *corruptReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("%s: %w (%w)", c.what, ErrCorrupt, err)
	}
	return n, err
}
